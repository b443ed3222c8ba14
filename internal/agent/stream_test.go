package agent

import (
	"net"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/wire"
)

// TestStream moves bytes for a second on each of four connections, then
// counted transfers: every byte a sample reports is one the server read,
// exactly, and every connection is one the load agent counted.
func TestStream(t *testing.T) {
	const conns = 4
	srv := start(t, ServerOptions{Listen: "127.0.0.1:0", Protocol: Stream}.Args()...)
	load := start(t, LoadOptions{
		Targets: []string{"http://" + srv.ready.Addr + "/"}, Protocol: Stream, Connections: conns,
		Workers: DefaultWorkers, Timeout: DefaultTimeout,
	}.Args()...)

	samples, done := load.attack(t, wire.Attack{Tag: "measure", Duration: time.Second})
	if len(samples) != conns || done.Planned != conns || done.Requests != conns {
		t.Fatalf("got %d samples, Done %+v, want %d transfers", len(samples), done, conns)
	}
	var moved uint64
	for _, s := range samples {
		if s.Error != "" || s.Code != exchangeOK {
			t.Fatalf("transfer %+v failed", s)
		}
		// A second on loopback moves far more than one write.
		if s.Bytes < streamChunk || s.Latency <= 0 {
			t.Errorf("transfer %+v: want at least %d bytes and a transfer time", s, streamChunk)
		}
		moved += s.Bytes
	}
	st := srv.stats(t)
	if st["bytes"] != moved || st["requests"] != conns || st["connections"] != conns {
		t.Fatalf("server stats %v, want %d bytes (what the transfers report), %d requests and connections", st, moved, conns)
	}
	t.Logf("%d connections moved %d bytes: %.2f Gbit/s", conns, moved, float64(moved)*8/1e9)

	counted, done := load.attack(t, wire.Attack{Tag: "probe", Count: 3})
	if len(counted) != 3 || done.Requests != 3 {
		t.Fatalf("counted attack: %d samples, Done %+v, want 3", len(counted), done)
	}
	for _, s := range counted {
		if s.Error != "" || s.Bytes != StreamCountBytes {
			t.Fatalf("counted transfer %+v, want %d bytes, no error", s, StreamCountBytes)
		}
	}
	if got, want := srv.stats(t)["bytes"], moved+3*StreamCountBytes; got != want {
		t.Errorf("server read %d bytes in all, want %d", got, want)
	}
	if got := load.stats(t)["connections"]; got != conns+3 {
		t.Errorf("load agent counted %d connections, want %d", got, conns+3)
	}
}

// TestStreamBlackHole streams to a listener that accepts and never reads:
// the attack ends by its deadline, every transfer failed (no byte count
// came back), not after the request timeout.
func TestStreamBlackHole(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	const timeout = time.Minute
	load := start(t, LoadOptions{
		Targets: []string{"http://" + ln.Addr().String() + "/"}, Protocol: Stream, Connections: 2,
		Workers: 1, Timeout: timeout,
	}.Args()...)
	began := time.Now()
	samples, _ := load.attack(t, wire.Attack{Tag: "measure", Duration: 500 * time.Millisecond})
	if took := time.Since(began); took >= timeout/2 {
		t.Errorf("attack took %s, want it cut off by its deadline", took)
	}
	if len(samples) != 2 {
		t.Fatalf("got %d samples, want 2", len(samples))
	}
	for _, s := range samples {
		if s.Error == "" || s.Code != 0 {
			t.Errorf("transfer %+v, want a failure", s)
		}
	}
}
