package pathprobe_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/meshbench/meshbench/bpf/pathprobe"
)

// TestSpliceReadsCount puts a proxy that splices both ways, as meshbench's
// l4 proxy does, between the client and the echo server: every request is
// then read three times in the server's namespace (the proxy reads the
// request and the response by splice, the echo server reads the request by
// read) and written three times, and both must count.
func TestSpliceReadsCount(t *testing.T) {
	pr := newPair(t)
	var splicer net.Listener
	if err := pr.b.Do(func() (err error) {
		splicer, err = net.Listen("tcp4", "10.203.0.2:8081")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { splicer.Close() })
	go func() {
		down, err := splicer.Accept()
		if err != nil {
			return
		}
		defer down.Close()
		var up net.Conn
		if err := pr.b.Do(func() (err error) {
			up, err = net.DialTimeout("tcp4", "10.203.0.2:8080", 2*time.Second)
			return err
		}); err != nil {
			t.Error(err)
			return
		}
		defer up.Close()
		// io.Copy between two *net.TCPConn splices through a pipe.
		go io.Copy(up.(*net.TCPConn), down)
		io.Copy(down.(*net.TCPConn), up)
	}()
	p := load(t, watch(pr.bIno))

	var conn net.Conn
	if err := pr.a.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp4", "10.203.0.2:8081", 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	exchange(t, conn) // connections up and warm before counting
	if err := p.Reset(); err != nil {
		t.Fatal(err)
	}

	const requests = 20
	for range requests {
		exchange(t, conn)
	}
	got := counts(t, p)
	recv := got[pathprobe.Key{Netns: pr.bIno, Event: pathprobe.SocketRecv}]
	send := got[pathprobe.Key{Netns: pr.bIno, Event: pathprobe.SocketSend}]
	if want := uint64(3 * requests); recv != want || send != want {
		t.Errorf("server namespace: %d socket receives and %d sends for %d requests through a splicing proxy, want %d each",
			recv, send, requests, want)
	}
}
