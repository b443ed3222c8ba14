package agent

import (
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
)

// requestProtocols are the protocols of requests, which every protocol but
// stream sends (stream_test.go tests stream).
func requestProtocols() []string {
	return slices.DeleteFunc(slices.Clone(Protocols), func(p string) bool { return p == Stream })
}

// variant is a protocol sent by one of the load role's clients.
type variant struct{ protocol, client string }

func (v variant) String() string {
	if v.client == "" {
		return v.protocol
	}
	return v.protocol + "/" + v.client
}

// variants are the request protocols, http1 and h2c with each client.
func variants() []variant {
	var vs []variant
	for _, p := range requestProtocols() {
		vs = append(vs, variant{protocol: p})
		if p == HTTP1 || p == H2C {
			vs = append(vs, variant{protocol: p, client: VegetaClient})
		}
	}
	return vs
}

func TestLoad(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.String(), func(t *testing.T) { testLoad(t, v) })
	}
}

// testLoad runs attacks of v against a server of its own and checks every
// sample, the schedule, and what the server counted.
func testLoad(t *testing.T, v variant) {
	protocol := v.protocol
	const requestBytes, responseBytes, conns = 30, 100, 8
	srv := start(t, ServerOptions{Listen: "127.0.0.1:0", Protocol: protocol, RequestBytes: requestBytes, ResponseBytes: responseBytes}.Args()...)
	load := start(t, LoadOptions{
		Targets: []string{"http://" + srv.ready.Addr + "/"}, Protocol: protocol, Client: v.client, Connections: conns,
		RequestBytes: requestBytes, ResponseBytes: responseBytes, Workers: DefaultWorkers, Timeout: DefaultTimeout,
	}.Args()...)

	// The attacks run one after another on the same agent: a later one
	// proves that the agent serves more than one attack.
	tests := []struct {
		name   string
		attack wire.Attack
		want   int
	}{
		{name: "open loop", attack: wire.Attack{Tag: "measure", Rate: 2000, Duration: time.Second}, want: 2000},
		{name: "again", attack: wire.Attack{Tag: "again", Rate: 1000, Duration: 200 * time.Millisecond}, want: 200},
		{name: "closed loop", attack: wire.Attack{Tag: "probe", Count: 5}, want: 5},
	}
	var total uint64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			samples, done := load.attack(t, tt.attack)
			total += uint64(len(samples))
			if len(samples) != tt.want || done.Requests != uint64(tt.want) {
				t.Fatalf("got %d samples, Done.Requests %d, want %d", len(samples), done.Requests, tt.want)
			}
			if done.Tag != tt.attack.Tag || done.Began == 0 || done.Ended <= done.Began {
				t.Errorf("Done = %+v, want tag %q and Began < Ended", done, tt.attack.Tag)
			}
			interval := time.Duration(0)
			if tt.attack.Rate > 0 {
				interval = time.Duration(float64(time.Second) / tt.attack.Rate)
			}
			seqs := make([]uint64, 0, len(samples))
			for _, s := range samples {
				seqs = append(seqs, s.Seq)
				if s.Code != 200 || s.Error != "" || s.BytesIn != responseBytes {
					t.Fatalf("sample %+v, want code 200, no error, %d bytes in", s, responseBytes)
				}
				if s.Latency < s.Service || s.Service <= 0 {
					t.Fatalf("sample %+v: latency from intended time below service time", s)
				}
				if (s.Connect > 0) != (protocol == TCPCRR) || s.Connect > s.Service {
					t.Fatalf("sample %+v: want a connect time within the service time for tcp-crr only", s)
				}
				if interval > 0 {
					if want := done.Began + int64(s.Seq)*int64(interval); s.Intended != want {
						t.Fatalf("sample %d intended at %d, want %d (schedule)", s.Seq, s.Intended, want)
					}
				} else if s.Latency != s.Service {
					t.Fatalf("closed-loop sample %+v: latency differs from service time", s)
				}
			}
			slices.Sort(seqs)
			for i, seq := range seqs {
				if seq != uint64(i) {
					t.Fatalf("sequence numbers %v..., want 0..%d once each", seqs[:i+1], len(seqs)-1)
				}
			}
		})
	}
	if got := load.stats(t); got["requests"] != total || got["errors"] != 0 {
		t.Errorf("load stats = %v, want %d requests, 0 errors", got, total)
	}
	st := srv.stats(t)
	if got := st["requests"]; got != total {
		t.Errorf("server counted %d requests, want %d", got, total)
	}
	switch protocol {
	case TCPCRR:
		if got := st["connections"]; got != total {
			t.Errorf("tcp-crr: server accepted %d connections, want one per request, %d", got, total)
		}
	default:
		// Persistent connections, at most conns of them, and h2c and
		// grpc open exactly conns (streams do not add any).
		got, want := st["connections"], uint64(conns)
		if multiplexed(protocol) && got != want || got < 1 || got > want {
			t.Errorf("%s: server accepted %d connections, want %d at most (exactly for h2c and grpc)", protocol, got, want)
		}
	}
}

func TestLoadBadAttack(t *testing.T) {
	load := start(t, "agent", "load", "--targets", "http://127.0.0.1:1/")
	tests := []struct {
		name    string
		attack  wire.Attack
		wantErr string
	}{
		{name: "no rate", attack: wire.Attack{Duration: time.Second}, wantErr: "rate must be"},
		{name: "no duration", attack: wire.Attack{Rate: 10}, wantErr: "duration must be"},
		{name: "too short", attack: wire.Attack{Rate: 1, Duration: time.Millisecond}, wantErr: "at least one request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := load.do(t, wire.Command{Attack: &tt.attack})
			if got := msgs[len(msgs)-1].Err; !strings.Contains(got, tt.wantErr) {
				t.Errorf("attack %+v failed with %q, want %q", tt.attack, got, tt.wantErr)
			}
		})
	}
}

func TestLoadStopsWhenStdinCloses(t *testing.T) {
	srv := start(t, "agent", "server", "--listen", "127.0.0.1:0")
	load := start(t, "agent", "load", "--targets", "http://"+srv.ready.Addr+"/")
	// A minute-long attack; start's cleanup closes stdin once the first
	// samples arrived and fails the test unless the agent exits in time.
	if err := load.enc.Encode(wire.Command{ID: 1, Attack: &wire.Attack{Rate: 100, Duration: time.Minute}}); err != nil {
		t.Fatalf("send attack: %v", err)
	}
	if m := <-load.msgs; len(m.Samples) == 0 {
		t.Fatalf("first message of the attack = %+v, want samples", m)
	}
}

func TestLoadCountsErrors(t *testing.T) {
	// Port 1 on loopback refuses connections.
	load := start(t, "agent", "load", "--targets", "http://127.0.0.1:1/")
	samples, done := load.attack(t, wire.Attack{Tag: "refused", Rate: 100, Duration: 100 * time.Millisecond})
	if len(samples) != 10 || done.Requests != 10 {
		t.Fatalf("got %d samples, Done.Requests %d, want 10", len(samples), done.Requests)
	}
	for _, s := range samples {
		if s.Error == "" || s.Code != 0 {
			t.Errorf("sample %+v, want an error and no code", s)
		}
	}
	if got := load.stats(t)["errors"]; got != 10 {
		t.Errorf("load stats errors = %d, want 10", got)
	}
}

// TestLoadShowsStall is the coordinated-omission test: the server stalls
// once for 500 ms while one connection and one worker carry a 1000 rps
// attack. The ~500 requests due during the stall queue behind it; measured
// from their intended send time about a hundred of them waited >= 400 ms,
// while vegeta's own latency, from the actual send, sees only the stalled
// request.
func TestLoadShowsStall(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.String(), func(t *testing.T) { testLoadShowsStall(t, v) })
	}
}

func testLoadShowsStall(t *testing.T, v variant) {
	const stall = 500 * time.Millisecond
	srv := start(t, ServerOptions{Listen: "127.0.0.1:0", Protocol: v.protocol, StallAfter: 200, StallFor: stall}.Args()...)
	load := start(t, LoadOptions{
		Targets:     []string{"http://" + srv.ready.Addr + "/"},
		Protocol:    v.protocol,
		Client:      v.client,
		Connections: 1,
		Workers:     1,
		MaxWorkers:  1,
		Timeout:     10 * time.Second,
	}.Args()...)

	samples, _ := load.attack(t, wire.Attack{Tag: "stall", Rate: 1000, Duration: 2 * time.Second})
	if len(samples) != 2000 {
		t.Fatalf("got %d samples, want 2000", len(samples))
	}
	const slow = 400 * time.Millisecond
	var slowLatency, slowService int
	for _, s := range samples {
		if s.Error != "" {
			t.Fatalf("sample %+v failed", s)
		}
		if s.Latency >= slow {
			slowLatency++
		}
		if s.Service >= slow {
			slowService++
		}
	}
	t.Logf("requests >= %s: %d from intended time, %d from actual send", slow, slowLatency, slowService)
	// Requests due in the first 100 ms of the stall wait >= 400 ms.
	if slowLatency < 50 {
		t.Errorf("%d requests took >= %s from their intended time, want >= 50 (the stall hides)", slowLatency, slow)
	}
	if slowService != 1 {
		t.Errorf("%d requests took >= %s from their actual send, want 1 (the stalled one)", slowService, slow)
	}
}

func TestParseTargets(t *testing.T) {
	tests := []struct {
		name    string
		list    string
		want    []string
		wantErr string
	}{
		{name: "one", list: "http://10.0.0.1:8080/", want: []string{"http://10.0.0.1:8080/"}},
		{name: "two, IPv6", list: "http://10.0.0.1/,http://[fd00::1]:80/x", want: []string{"http://10.0.0.1/", "http://[fd00::1]:80/x"}},
		{name: "host names", list: "http://localhost:8080/,http://10.0.0.1/,http://svc.local/", wantErr: "not hosts (localhost, svc.local)"},
		{name: "https", list: "https://10.0.0.1/", wantErr: "not an http://IP:port/ URL"},
		{name: "no scheme", list: "10.0.0.1:8080", wantErr: "parse target"},
		{name: "empty", list: "", wantErr: "not an http://IP:port/ URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTargets(tt.list)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseTargets(%q) = %v, %v, want error containing %q", tt.list, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("parseTargets(%q) = %q, %v, want %q", tt.list, got, err, tt.want)
			}
		})
	}
}

func TestLoadRejectsHostNames(t *testing.T) {
	err := Run(t.Context(), testRoles, []string{"load", "--targets", "http://localhost:8080/"}, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "never resolves names") {
		t.Errorf("Run(load --targets http://localhost:8080/) = %v, want the error about host names", err)
	}
}

func TestLoadRejectsUnknownClient(t *testing.T) {
	err := Run(t.Context(), testRoles, []string{"load", "--targets", "http://127.0.0.1:8080/", "--client", "curl"}, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `--client "curl" is not one of lean, vegeta`) {
		t.Errorf("Run(load --client curl) = %v, want the error naming the clients", err)
	}
}

// TestLoadDeadlineCutsBlackHole attacks a listener that accepts and never
// answers: the attack ends by its Deadline, long before the per-request
// timeout, with the requests in flight failed and the rest not sent.
func TestLoadDeadlineCutsBlackHole(t *testing.T) {
	for _, v := range variants() {
		t.Run(v.String(), func(t *testing.T) { testLoadDeadlineCutsBlackHole(t, v) })
	}
}

// testLoadDeadlineCutsBlackHole attacks a listener that accepts and never
// answers.
func testLoadDeadlineCutsBlackHole(t *testing.T, v variant) {
	protocol := v.protocol
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	const timeout = time.Minute
	load := start(t, LoadOptions{
		Targets:     []string{"http://" + ln.Addr().String() + "/"},
		Protocol:    protocol,
		Client:      v.client,
		Connections: 4,
		Workers:     1,
		Timeout:     timeout,
	}.Args()...)

	const d = time.Second
	began := time.Now()
	samples, done := load.attack(t, wire.Attack{Tag: "warmup", Rate: 100, Duration: d})
	took := time.Since(began)
	t.Logf("attack of %s at a black hole took %s: %d of %d requests sent", d, took, done.Requests, done.Planned)
	if took >= timeout/2 {
		t.Errorf("attack took %s, want it cut off by its deadline (%s), well before the %s request timeout", took, Deadline(d), timeout)
	}
	// With one request in flight per connection, most are never sent;
	// multiplexed on streams, all may be.
	if done.Planned != 100 || done.Requests > done.Planned || !multiplexed(protocol) && done.Requests == done.Planned || uint64(len(samples)) != done.Requests {
		t.Errorf("Done = %+v with %d samples, want 100 planned and fewer sent (all at most, multiplexed), one sample each", done, len(samples))
	}
	for _, s := range samples {
		if s.Error == "" || s.Code != 0 {
			t.Errorf("sample %+v, want a failure", s)
		}
	}
}

func TestDeadline(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{
		time.Second:      3 * time.Second,
		30 * time.Second: 33 * time.Second,
		5 * time.Minute:  5*time.Minute + 10*time.Second,
	} {
		if got := Deadline(d); got != want {
			t.Errorf("Deadline(%s) = %s, want %s", d, got, want)
		}
	}
}

// TestLoadShortfallAboveCeiling attacks at a rate no single connection on
// loopback sustains: the achieved rate, over the measured wall time, falls
// short of the target, and the requests not sent by the deadline are
// counted.
func TestLoadShortfallAboveCeiling(t *testing.T) {
	srv := start(t, ServerOptions{Listen: "127.0.0.1:0"}.Args()...)
	load := start(t, LoadOptions{
		Targets:     []string{"http://" + srv.ready.Addr + "/"},
		Connections: 1,
		Workers:     1,
		Timeout:     10 * time.Second,
	}.Args()...)
	const rate, d = 1_000_000, 500 * time.Millisecond
	samples, done := load.attack(t, wire.Attack{Tag: "measure", Rate: rate, Duration: d})
	rep, err := results.Summarize(samples, results.Plan{Requests: done.Planned, Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("target %d req/s: achieved %.0f req/s (%.1f%%), %d of %d sent, lateness p50 %s p99 %s",
		rate, rep.AchievedRPS, 100*rep.AchievedRPS/rate, rep.Requests, done.Planned,
		results.FormatMicros(rep.PacerLatenessUS.P50), results.FormatMicros(rep.PacerLatenessUS.P99))
	if rep.AchievedRPS >= (1-results.RateTolerance)*rate {
		t.Errorf("achieved %.0f req/s of %d on one connection, want a shortfall", rep.AchievedRPS, rate)
	}
	if rep.Unsent == 0 || rep.Unsent+rep.Requests != done.Planned {
		t.Errorf("%d sent, %d unsent, want %d planned with some not sent by the deadline", rep.Requests, rep.Unsent, done.Planned)
	}
}

// MaxGRPCBytes is gRPC's own limit: a call at it goes through, one byte
// past the message limit fails.
func TestGRPCMessageLimit(t *testing.T) {
	for _, tt := range []struct {
		bytes int
		ok    bool
	}{
		{MaxGRPCBytes, true},
		{4<<20 + 1, false},
	} {
		srv := start(t, ServerOptions{Listen: "127.0.0.1:0", Protocol: GRPC, ResponseBytes: tt.bytes}.Args()...)
		load := start(t, LoadOptions{
			Targets: []string{"http://" + srv.ready.Addr + "/"}, Protocol: GRPC, Connections: 1,
			RequestBytes: tt.bytes, Workers: 1, Timeout: DefaultTimeout,
		}.Args()...)
		samples, _ := load.attack(t, wire.Attack{Tag: "limit", Count: 1})
		if len(samples) != 1 || (samples[0].Error == "") != tt.ok || tt.ok && samples[0].BytesIn != uint32(tt.bytes) {
			t.Errorf("grpc call of %d bytes each way: %+v, want success %t", tt.bytes, samples, tt.ok)
		}
	}
}

// A tcp-crr server that answers but never closes fails each exchange by
// the attack's deadline: the wait for the close is cut off too.
func TestTCPCRRWaitsForCloseWithinDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			go func() {
				buf := make([]byte, 1)
				if _, err := io.ReadFull(c, buf); err == nil {
					c.Write(buf) // the response, and no close
				}
			}()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	const timeout = time.Minute
	load := start(t, LoadOptions{
		Targets: []string{"http://" + ln.Addr().String() + "/"}, Protocol: TCPCRR,
		Connections: 2, Workers: 1, Timeout: timeout,
	}.Args()...)
	began := time.Now()
	samples, _ := load.attack(t, wire.Attack{Tag: "noclose", Rate: 10, Duration: time.Second})
	if took := time.Since(began); took >= timeout/2 {
		t.Fatalf("attack took %s, want it cut off by its deadline (%s)", took, Deadline(time.Second))
	}
	if len(samples) == 0 {
		t.Fatal("no samples")
	}
	for _, s := range samples {
		if !strings.Contains(s.Error, "read the server's close") {
			t.Errorf("sample %+v, want it failed waiting for the server's close", s)
		}
	}
}

// TCP messages larger than the read buffer go through whole, both ways.
func TestTCPLargeMessages(t *testing.T) {
	const requestBytes, responseBytes = 3*maxReadBuffer + 7, 5*maxReadBuffer + 1
	for _, protocol := range []string{TCPRR, TCPCRR} {
		t.Run(protocol, func(t *testing.T) {
			srv := start(t, ServerOptions{Listen: "127.0.0.1:0", Protocol: protocol, RequestBytes: requestBytes, ResponseBytes: responseBytes}.Args()...)
			load := start(t, LoadOptions{
				Targets: []string{"http://" + srv.ready.Addr + "/"}, Protocol: protocol, Connections: 2,
				RequestBytes: requestBytes, ResponseBytes: responseBytes, Workers: 1, Timeout: DefaultTimeout,
			}.Args()...)
			samples, _ := load.attack(t, wire.Attack{Tag: "large", Count: 3})
			for _, s := range samples {
				if s.Error != "" || s.BytesIn != responseBytes {
					t.Errorf("sample %+v, want %d bytes in and no error", s, responseBytes)
				}
			}
			if got := srv.stats(t)["requests"]; len(samples) != 3 || got != 3 {
				t.Errorf("%d samples, server answered %d; want 3 each", len(samples), got)
			}
		})
	}
}

// The pacer never releases a request before its intended time, whether it
// only sleeps (short intervals) or sleeps then spins (long ones).
func TestPaceNotEarly(t *testing.T) {
	for _, interval := range []time.Duration{spinMinInterval / 5, spinMinInterval} {
		s := &schedule{ctx: t.Context(), interval: interval, total: 20}
		s.Pace(0, 0)
		for hits := uint64(1); hits < s.total; hits++ {
			if _, stop := s.Pace(0, hits); stop {
				t.Fatalf("interval %v: Pace stopped at hit %d of %d", interval, hits, s.total)
			}
			if now, want := time.Now(), s.intended(hits); now.Before(want) {
				t.Errorf("interval %v: hit %d released %v early", interval, hits, want.Sub(now))
			}
		}
	}
}

// A precise sleep never returns before its deadline, also on a timer taken
// back from the pool after earlier sleeps (whose expirations must not
// carry over), and a deadline already past returns at once.
func TestSleepUntilNotEarly(t *testing.T) {
	for range 3 {
		for _, d := range []time.Duration{-time.Millisecond, 0, time.Microsecond, 50 * time.Microsecond, time.Millisecond, coarseSlack + time.Millisecond} {
			want := time.Now().Add(d)
			if err := sleepUntil(t.Context(), want); err != nil {
				t.Fatalf("sleepUntil(%v from now) = %v", d, err)
			}
			if now := time.Now(); now.Before(want) {
				t.Errorf("sleepUntil(%v from now) returned %v early", d, want.Sub(now))
			}
		}
	}
	tf, err := newTimerFD()
	if err != nil {
		t.Fatal(err)
	}
	defer tf.f.Close()
	for _, d := range []time.Duration{time.Microsecond, 200 * time.Microsecond, time.Microsecond} {
		want := time.Now().Add(d)
		if err := tf.sleepUntil(want); err != nil {
			t.Fatalf("timerfd sleep of %v: %v", d, err)
		}
		if now := time.Now(); now.Before(want) {
			t.Errorf("timerfd sleep of %v returned %v early", d, want.Sub(now))
		}
	}
}
