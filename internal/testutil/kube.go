package testutil

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// defaultTestClusterState is where hack/testcluster/up.sh keeps the local
// test cluster's state; MBTC_STATE moves it, as it does for the scripts.
const defaultTestClusterState = "/var/lib/meshbench-testcluster"

// KubeCluster returns the admin kubeconfig of the local test cluster
// (hack/testcluster), whose node n's containerd listens on
// <dir of the kubeconfig>/nodes/n/containerd.sock. It skips tb, saying how
// to start the cluster, when the test is not root or the cluster is not up:
// no kubeconfig, or an API server that does not accept connections. With
// MESHBENCH_REQUIRE_KUBE=1, as `make test-kube` runs, a cluster that is not
// up fails tb instead.
func KubeCluster(tb testing.TB) string {
	tb.Helper()
	Privileged(tb)
	state := os.Getenv("MBTC_STATE")
	if state == "" {
		state = defaultTestClusterState
	}
	path := filepath.Join(state, "admin.kubeconfig")
	b, err := os.ReadFile(path)
	if err != nil {
		skipUnless(tb, RequireKube, fmt.Sprintf("the local test cluster is not up (%v): run `make test-kube`, which starts it (hack/testcluster/up.sh) and stops it again", err))
	}
	server := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if s, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "server:"); ok {
			server = strings.TrimSpace(s)
			break
		}
	}
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		tb.Fatalf("test cluster kubeconfig %s: no API server address (%q)", path, server)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		skipUnless(tb, RequireKube, fmt.Sprintf("the local test cluster is not up (API server %s: %v): run `make test-kube`, which starts it (hack/testcluster/up.sh) and stops it again", u.Host, err))
	}
	conn.Close()
	return path
}
