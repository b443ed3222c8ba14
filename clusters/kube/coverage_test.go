package kube

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/clusters"
)

// StartHost runs the process through the node agent's host role, each in a
// cgroup of its own, and refuses what it cannot place outside the pods.
func TestStartHost(t *testing.T) {
	c := startTestCluster(t)
	for i := range c.topo.Nodes {
		if c.topo.Nodes[i].Name == "worker-a" {
			c.topo.Nodes[i].PodCgroupRoot = "kubepods"
		}
	}
	for _, want := range []string{
		"meshbench-proc0/meshbench-node-worker-a/agent /meshbench agent kube-host -run proc0 -name host-0 -- agent load echo\n",
		"meshbench-proc0/meshbench-node-worker-a/agent /meshbench agent kube-host -run proc0 -name host-1 -- agent load echo\n",
	} {
		p, err := c.StartHost(context.Background(), clusters.ProcSpec{Target: clusters.Target{Node: "worker-a"}, Name: "host load", Args: []string{"agent", "load", "echo"}})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := bufio.NewReader(p.Stdout()).ReadString('\n'); got != want {
			t.Errorf("ran %q, want %q", got, want)
		}
		p.Stop(time.Second)
	}
	for _, tt := range []struct {
		target clusters.Target
		want   string
	}{
		{clusters.Target{Node: "worker-b"}, "cgroup v1"},
		{clusters.Target{Node: "nope"}, "no node"},
		{clusters.Target{Pod: "svc-000-1"}, "needs a node"},
	} {
		if _, err := c.StartHost(context.Background(), clusters.ProcSpec{Target: tt.target, Name: "x", Args: []string{"agent", "echo"}}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("StartHost on %+v = %v, want an error saying %q", tt.target, err, tt.want)
		}
	}
}
