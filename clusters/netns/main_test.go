package netns

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/nsenter"
)

// TestMain lets the test binary stand in for meshbench: Start runs it with
// the args "agent ...", and the killed-run test runs it as a runner.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 {
		switch os.Args[1] {
		case "agent":
			os.Exit(agent(os.Args[2]))
		case "runner":
			os.Exit(runner(os.Args[2]))
		}
	}
	os.Exit(m.Run())
}

// agent is a stand-in for `meshbench agent`.
func agent(mode string) int {
	switch mode {
	case "info": // report where it runs, then live until stdin closes
		ns, _ := os.Readlink("/proc/self/ns/net")
		cg, _ := os.ReadFile("/proc/self/cgroup")
		fmt.Printf("netns %s\nrunid %s\n%s", ns, os.Getenv(RunIDEnv), cg)
		fmt.Println("end")
		_, _ = io.Copy(io.Discard, os.Stdin)
		return 0
	case "fs": // report what it sees of the file system, write a file in the state directory os.Args[3]
		_, err := os.Stat("/etc/passwd")
		mnt, _ := os.Readlink("/proc/self/ns/mnt")
		fmt.Printf("passwd %v\nmnt %s\n", err == nil, mnt)
		if len(os.Args) > 3 {
			_, err := os.Stat(os.Args[4])
			fmt.Printf("other %v\n", err == nil)
			fmt.Printf("write %v\n", os.WriteFile(os.Args[3]+"/written", []byte("x"), 0o600))
		}
		fmt.Println("end")
		return 0
	case "fail":
		fmt.Fprintln(os.Stderr, "boom: the agent failed")
		return 3
	case "stubborn": // ignores SIGTERM
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "hang":
		time.Sleep(time.Hour)
	case "table": // an init container: add the nftables table os.Args[3] here
		c, err := nftables.New()
		if err == nil {
			c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: os.Args[3]})
			err = c.Flush()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	return 2
}

// runner makes a cluster with processes in it, prints the run id and
// waits to be killed: a meshbench run killed with SIGKILL.
func runner(runID string) int {
	ctx := context.Background()
	c, err := New(Options{}).Create(ctx, smallSpec(runID))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	topo := c.Topology()
	// An agent, killed with the runner (Pdeathsig) ...
	if _, err := c.Start(ctx, clusters.ProcSpec{Target: clusters.Target{Pod: "server-1"}, Name: "agent", Args: []string{"agent", "hang"}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// ... and two that outlive it: one in a pod's namespace only, one in a
	// pod's cgroup only.
	orphan := func(setup func(*exec.Cmd)) error {
		cmd := exec.Command(os.Args[0], "agent", "hang")
		setup(cmd)
		return cmd.Start()
	}
	pod, _ := topo.Pod("server-0")
	err = nsenter.Do(pod.NetNS, func() error { return orphan(func(*exec.Cmd) {}) })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cgfd, err := c.(*Cluster).cg.openV2(pod.Cgroup)
	if err == nil {
		err = orphan(func(cmd *exec.Cmd) {
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgfd}
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
	return 0
}

// smallSpec is a 3-node cluster: a client on n0 and a service with a pod
// on each node, plus a second service.
func smallSpec(runID string) clusters.Spec {
	return clusters.Spec{
		RunID:       runID,
		Nodes:       3,
		PodCIDR:     netip.MustParsePrefix("10.244.0.0/16"),
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/16"),
		Services: []clusters.ServiceSpec{
			{Name: "client", Port: 80, TargetPort: 8080, PodNodes: []int{0}, Role: "client"},
			{Name: "server", Port: 80, TargetPort: 8080, PodNodes: []int{0, 1, 2}, Role: "server"},
			{Name: "other", Port: 9000, TargetPort: 9090, PodNodes: []int{1, 1}},
		},
	}
}

// readLines reads r until a line "end" or EOF.
func readLines(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() && sc.Text() != "end" {
		out = append(out, sc.Text())
	}
	return out
}
