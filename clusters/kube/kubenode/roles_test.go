package kubenode

import (
	"io"
	"reflect"
	"testing"

	"github.com/meshbench/meshbench/internal/costagent"
)

// What the roles' options render parses back to the same options.
func TestRoleOptionsArgsRoundTrip(t *testing.T) {
	for _, o := range []PauseOptions{{}, {RemoveTables: "r1a2b3"}} {
		args := o.Args()
		if args[0] != "agent" || args[1] != PauseRole {
			t.Fatalf("Args() = %q, want \"agent\" %q first", args, PauseRole)
		}
		got, err := parsePauseOptions(args[2:], io.Discard)
		if err != nil || !reflect.DeepEqual(got, o) {
			t.Errorf("parse(%q) = %+v, %v; want %+v", args, got, err, o)
		}
	}
	args := InspectOptions{}.Args()
	if args[0] != "agent" || args[1] != InspectRole {
		t.Fatalf("Args() = %q, want \"agent\" %q first", args, InspectRole)
	}
	if _, err := parseInspectOptions(args[2:], io.Discard); err != nil {
		t.Errorf("parse(%q) = %v", args, err)
	}
	if _, err := parseInspectOptions([]string{"stray"}, io.Discard); err == nil {
		t.Error("parse(stray) = nil, want an error")
	}
}

// The cost agent leaves the pause role's processes out of the datapath's.
func TestPauseIsTheCostAgentsIdleRole(t *testing.T) {
	if PauseRole != costagent.IdleRole {
		t.Errorf("PauseRole %q, costagent.IdleRole %q: want the same", PauseRole, costagent.IdleRole)
	}
}
