package proxy

import (
	"bytes"
	"crypto/x509"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMTLSIdentities(t *testing.T) {
	run, other := newMesh(t), newMesh(t)
	const hour = time.Hour
	// foreign trusts the run's CA but holds an identity another CA issued.
	foreign := other.tls(t, "client", hour)
	foreign.Roots = run.tls(t, "client", hour).Roots
	tests := []struct {
		name string
		// client and server are the proxies' TLS material; the server
		// allows only "client", the client expects "server".
		client, server *TLSConfig
		// refusedBy is the proxy that must count the TLS error and log
		// reason, "" if the request must succeed.
		refusedBy, reason string
	}{
		{"right identities", run.tls(t, "client", hour), run.tls(t, "server", hour, "client"), "", ""},
		{"wrong client identity", run.tls(t, "intruder", hour), run.tls(t, "server", hour, "client"),
			"server", "peer identity spiffe://meshbench.local/ns/run-test/sa/intruder is not allowed"},
		{"wrong server identity", run.tls(t, "client", hour), run.tls(t, "impostor", hour, "client"),
			"client", "peer identity spiffe://meshbench.local/ns/run-test/sa/impostor is not allowed"},
		{"expired client certificate", run.tls(t, "client", -hour), run.tls(t, "server", hour, "client"),
			"server", "certificate has expired"},
		{"expired server certificate", run.tls(t, "client", hour), run.tls(t, "server", -hour, "client"),
			"client", "certificate has expired"},
		{"client from another CA", foreign, run.tls(t, "server", hour, "client"),
			"server", "certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newEchoServer(t)
			logs := map[string]*syncBuffer{"client": {}, "server": {}}
			b := startProxy(t, Config{Tunnel: loopback, Services: tableOf(srv.addr), TLS: tt.server, Log: logs["server"].logger()})
			a := startProxy(t, Config{Outbound: loopback, OrigDst: fixedDst(srv.addr), TLS: tt.client, Log: logs["client"].logger(),
				Peer: func(netip.AddrPort) Hop { return Hop{Addr: b.Addrs().Tunnel, Tunnel: true, Identity: "server"} }})
			_, err := get(t, clientVia(t, a.Addrs().Outbound, true), srv.addr, "GET", "/", "")
			if ok := tt.refusedBy == ""; ok != (err == nil) {
				t.Fatalf("got error %v, want success %v", err, ok)
			}
			refuser := map[string]*Proxy{"client": a, "server": b}[tt.refusedBy]
			if refuser == nil {
				// The client's connection went on over mTLS: its source counts it.
				lo := netip.MustParseAddr("127.0.0.1")
				waitStats(t, a, map[string]uint64{StatTLSErrors: 0, StatTunnelsDialed: 1, SourceKey(lo, SourceConns): 1, SourceKey(lo, SourceMTLS): 1})
				waitStats(t, b, map[string]uint64{StatTLSErrors: 0, StatTunnels: 1})
				return
			}
			waitStats(t, refuser, map[string]uint64{StatTLSErrors: 1, StatErrors: 1})
			if log := logs[tt.refusedBy].String(); !strings.Contains(log, tt.reason) {
				t.Errorf("%s log does not give the reason %q:\n%s", tt.refusedBy, tt.reason, log)
			}
			if srv.conns.Load() != 0 {
				t.Errorf("refused tunnel reached the server")
			}
		})
	}
}

func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	ca, err := GenerateCA("run-files")
	if err != nil {
		t.Fatalf("GenerateCA: %v", err)
	}
	id, err := IssueIdentity(ca, "svc-1", time.Hour)
	if err != nil {
		t.Fatalf("IssueIdentity: %v", err)
	}
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := ca.WriteCert(caFile); err != nil {
		t.Fatalf("WriteCert: %v", err)
	}
	if err := id.WriteFiles(certFile, keyFile); err != nil {
		t.Fatalf("WriteFiles: %v", err)
	}
	tc, err := LoadTLS(caFile, certFile, keyFile, []string{"client"})
	if err != nil {
		t.Fatalf("LoadTLS: %v", err)
	}
	m, err := newMTLS(tc)
	if err != nil {
		t.Fatalf("newMTLS: %v", err)
	}
	if m.namespace != "run-files" {
		t.Errorf("got namespace %q, want %q", m.namespace, "run-files")
	}
	leaf, err := x509.ParseCertificate(tc.Certificate.Certificate[0])
	if err != nil {
		t.Fatalf("parse loaded certificate: %v", err)
	}
	want := "spiffe://meshbench.local/ns/run-files/sa/svc-1"
	if got, err := spiffeID(leaf); err != nil || got != want {
		t.Errorf("got SPIFFE ID %q, %v; want %q", got, err, want)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: tc.Roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("loaded certificate does not verify against the loaded CA: %v", err)
	}
}

func TestIssueIdentityRefusesBadNames(t *testing.T) {
	ca, err := GenerateCA("run-names")
	if err != nil {
		t.Fatalf("GenerateCA: %v", err)
	}
	for _, name := range []string{"", "Upper", "a/b", "sa/../x"} {
		t.Run(name, func(t *testing.T) {
			if _, err := IssueIdentity(ca, name, time.Hour); err == nil {
				t.Errorf("IssueIdentity(%q) succeeded, want an error", name)
			}
		})
	}
}

// syncBuffer collects a proxy's log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }
