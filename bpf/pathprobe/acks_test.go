package pathprobe_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshbench/meshbench/bpf/pathprobe"
	"github.com/meshbench/meshbench/internal/testutil"
)

// deviceCounts are one device's counters, by kind of packet.
type deviceCounts struct {
	Transmit, Receive       uint64 // carrying data
	TransmitAck, ReceiveAck uint64 // TCP segments without payload
}

func deviceOf(c map[pathprobe.Key]uint64, netns uint64, ifindex uint32) deviceCounts {
	n := func(e pathprobe.EventType) uint64 {
		return c[pathprobe.Key{Netns: netns, Ifindex: ifindex, Event: e}]
	}
	return deviceCounts{
		Transmit: n(pathprobe.Transmit), Receive: n(pathprobe.Receive),
		TransmitAck: n(pathprobe.TransmitAck), ReceiveAck: n(pathprobe.ReceiveAck),
	}
}

// quickAck sets TCP_QUICKACK on conn, so that the next segment it receives
// is acknowledged at once by a pure ACK instead of by the next request. The
// kernel clears the flag again as it pleases, so it is set before every
// read.
func quickAck(tb testing.TB, conn net.Conn) {
	tb.Helper()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	}); err != nil {
		tb.Fatal(err)
	}
	if serr != nil {
		tb.Fatalf("setsockopt TCP_QUICKACK: %v", serr)
	}
}

// converse opens a connection from a to b's echo server, sends n requests
// one after another with TCP_QUICKACK on the client, so that it
// acknowledges every echo with a pure ACK at once, closes the connection
// and waits until the teardown is over: no counter of p moves any more.
func converse(tb testing.TB, pr *pair, p *pathprobe.Probe, n int) {
	tb.Helper()
	pr.dial(tb)
	for range n {
		quickAck(tb, pr.conn)
		pr.roundTrip(tb)
	}
	pr.conn.Close()
	settle(tb, p)
}

// settle waits until p's counters stop moving (the last FIN and its ACK).
func settle(tb testing.TB, p *pathprobe.Probe) {
	tb.Helper()
	last := fmt.Sprint(counts(tb, p))
	for range 40 {
		time.Sleep(100 * time.Millisecond)
		now := fmt.Sprint(counts(tb, p))
		if now == last {
			return
		}
		last = now
	}
	tb.Fatalf("path probe counters still moving after 4 s: %s", last)
}

// TestHopsExact counts a whole connection, handshake and teardown
// included, under conditions that make pure ACKs leave on their own: the
// data-carrying counts are exactly one transmit and one receive per
// message on each device, whatever the ACKs did, with and without the
// address filter.
func TestHopsExact(t *testing.T) {
	pr := newPair(t)
	all := load(t, watch(pr.aIno, pr.bIno))
	filtered := load(t, watch(pr.aIno, pr.bIno), netip.MustParsePrefix("10.203.0.0/24"))
	const requests = 10
	converse(t, pr, all, requests)

	want := deviceCounts{Transmit: requests, Receive: requests}
	for name, p := range map[string]*pathprobe.Probe{"unfiltered": all, "filtered": filtered} {
		c := counts(t, p)
		for _, dev := range []struct {
			name    string
			netns   uint64
			ifindex uint32
		}{{"veth-a", pr.aIno, pr.aIndex}, {"veth-b", pr.bIno, pr.bIndex}} {
			got := deviceOf(c, dev.netns, dev.ifindex)
			if got.Transmit != want.Transmit || got.Receive != want.Receive {
				t.Errorf("%s probe, %s: %d data transmits and %d receives, want %d and %d (ACKs: %d out, %d in)",
					name, dev.name, got.Transmit, got.Receive, want.Transmit, want.Receive, got.TransmitAck, got.ReceiveAck)
			}
			// SYN or SYN-ACK, FIN, the last ACK, and the client's
			// quick ACKs.
			if got.TransmitAck < 2 || got.ReceiveAck < 2 {
				t.Errorf("%s probe, %s: %d ACKs out and %d in, want at least 2 each (handshake, teardown)",
					name, dev.name, got.TransmitAck, got.ReceiveAck)
			}
		}
		// Every ACK one end sends the other receives, and the client
		// acknowledged each echo on its own.
		a, b := deviceOf(c, pr.aIno, pr.aIndex), deviceOf(c, pr.bIno, pr.bIndex)
		if a.TransmitAck < requests {
			t.Errorf("%s probe: client sent %d ACKs, want at least %d (one per echo): none provoked", name, a.TransmitAck, requests)
		}
		if a.TransmitAck != b.ReceiveAck || b.TransmitAck != a.ReceiveAck {
			t.Errorf("%s probe: ACKs a→b %d sent, %d received; b→a %d sent, %d received",
				name, a.TransmitAck, b.ReceiveAck, b.TransmitAck, a.ReceiveAck)
		}
	}
}

// TestCountsMatchCapture cross-checks the probe with tcpdump on one device:
// over a whole connection, the data-carrying segments and those without
// payload that the capture saw leaving and arriving are the probe's
// transmits and receives of either kind.
func TestCountsMatchCapture(t *testing.T) {
	tcpdump := testutil.LookPath(t, "tcpdump", "apt-get install tcpdump")
	pr := newPair(t)
	p := load(t, watch(pr.aIno, pr.bIno))
	pcap := filepath.Join(t.TempDir(), "veth-b.pcap")
	stop := capture(t, pr, tcpdump, pcap)

	const requests = 20
	converse(t, pr, p, requests)
	settleFile(t, pcap)
	stop()

	server := "src host 10.203.0.2"
	client := "dst host 10.203.0.2"
	// The IPv4 total length less the IP and TCP headers.
	data := "(ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2)) > 0"
	seen := deviceCounts{
		Transmit:    readCapture(t, tcpdump, pcap, server+" and "+data),
		Receive:     readCapture(t, tcpdump, pcap, client+" and "+data),
		TransmitAck: readCapture(t, tcpdump, pcap, server+" and not "+data),
		ReceiveAck:  readCapture(t, tcpdump, pcap, client+" and not "+data),
	}
	got := deviceOf(counts(t, p), pr.bIno, pr.bIndex)
	t.Logf("veth-b: probe %+v, capture %+v", got, seen)
	if got != seen {
		t.Errorf("veth-b: probe counted %+v, the capture saw %+v", got, seen)
	}
	if seen.Transmit != requests || seen.Receive != requests {
		t.Errorf("capture saw %d data segments out and %d in, want %d each", seen.Transmit, seen.Receive, requests)
	}
}

// capture starts tcpdump on veth-b in b, writing IPv4 TCP packets to pcap
// as they come, and returns once it listens; the returned function stops
// it (SIGTERM, and at most a minute in any case) and waits for it.
func capture(tb testing.TB, pr *pair, tcpdump, pcap string) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	cmd := exec.CommandContext(ctx, tcpdump, "-i", "veth-b", "-n", "-s", "128", "-B", "16384", "--immediate-mode", "-U", "-w", pcap, "ip and tcp")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	// A process forked from inside Do starts in b: the goroutine's
	// thread is locked to it, and the fork happens on that thread.
	if err := pr.b.Do(cmd.Start); err != nil {
		cancel()
		tb.Fatalf("start tcpdump: %v", err)
	}
	sc := bufio.NewScanner(stderr)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.Contains(sc.Text(), "listening on") {
			break
		}
	}
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		// Drain stderr so that tcpdump's statistics do not block it.
		rest := make(chan []string)
		go func() {
			var l []string
			for sc.Scan() {
				l = append(l, sc.Text())
			}
			rest <- l
		}()
		err := cmd.Wait()
		stats := <-rest
		if err != nil && ctx.Err() == nil {
			tb.Errorf("tcpdump: %v: %s", err, strings.Join(stats, "\n"))
		}
		tb.Logf("tcpdump: %s", strings.Join(stats, ", "))
	}
	tb.Cleanup(stop)
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "listening on") {
		stop()
		tb.Fatalf("tcpdump did not start listening: %s", strings.Join(lines, "\n"))
	}
	return stop
}

// settleFile waits until the file at path stops growing: with immediate
// mode and -U tcpdump writes each packet as it comes.
func settleFile(tb testing.TB, path string) {
	tb.Helper()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			tb.Fatal(err)
		}
		return fi.Size()
	}
	last := size()
	for range 40 {
		time.Sleep(200 * time.Millisecond)
		now := size()
		if now == last {
			return
		}
		last = now
	}
	tb.Fatalf("%s still growing after 8 s", path)
}

// readCapture counts the packets of pcap that pass filter.
func readCapture(tb testing.TB, tcpdump, pcap, filter string) uint64 {
	tb.Helper()
	out, err := exec.CommandContext(tb.Context(), tcpdump, "-r", pcap, "-n", filter).Output()
	if err != nil {
		tb.Fatalf("tcpdump -r %s %q: %v", pcap, filter, err)
	}
	return uint64(bytes.Count(out, []byte("\n")))
}
