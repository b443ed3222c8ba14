package builtin

import (
	"testing"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/clusters/kube/kubenode"
	"github.com/meshbench/meshbench/datapaths/proxy"
	"github.com/meshbench/meshbench/datapaths/steer"
	"github.com/meshbench/meshbench/internal/agent"
	"github.com/meshbench/meshbench/internal/costagent"
)

// Every role's options start a role the binary has.
func TestRolesCoverOptions(t *testing.T) {
	roles := Roles()
	for _, args := range [][]string{
		agent.ServerOptions{}.Args(),
		agent.LoadOptions{}.Args(),
		proxy.DefaultOptions().Args(),
		steer.Options{}.Args(),
		costagent.Options{}.Args(),
		pathprobe.Options{}.Args(),
		kubenode.PauseOptions{}.Args(),
		kubenode.InspectOptions{}.Args(),
		kubenode.InjectorOptions{}.Args(),
	} {
		if len(args) < 2 || args[0] != "agent" {
			t.Errorf("Args() = %q, want \"agent\" and a role first", args)
			continue
		}
		if roles[args[1]] == nil {
			t.Errorf("Args() = %q: role %q is not in Roles", args, args[1])
		}
	}
	for name, fn := range roles {
		if fn == nil {
			t.Errorf("role %q has no function", name)
		}
	}
}
