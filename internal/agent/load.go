package agent

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/meshbench/meshbench/internal/wire"
)

// LoadRole is the name of the load role: `meshbench agent load`.
const LoadRole = "load"

// Defaults of the load role, also its flag defaults.
const (
	DefaultConnections = 64
	DefaultWorkers     = vegeta.DefaultWorkers
	DefaultTimeout     = vegeta.DefaultTimeout
)

// LoadOptions are the load role's flags.
type LoadOptions struct {
	// Targets are http URLs whose hosts are IP literals, attacked
	// round-robin; protocols other than http1 and h2c use their host and
	// port.
	Targets []string
	// Protocol is what the agent sends (Protocols); "" is http1.
	Protocol string
	// Client is what sends http1 and h2c (Clients); "" is LeanClient.
	// The other protocols always go through openLoop's exchangers.
	Client string
	// Connections caps the keep-alive connections per target, busy or
	// idle; h2c, grpc and tcp-rr open exactly that many (as requests need
	// them), and tcp-crr keeps at most that many exchanges in flight.
	Connections int
	// RequestBytes, when > 0, makes every HTTP request a POST with a body
	// of that size (otherwise requests are GETs); it is the size of a gRPC
	// request's body and of a TCP request (at least 1 byte).
	RequestBytes int
	// ResponseBytes is the size of a TCP response (at least 1 byte), which
	// the agent reads before it counts the exchange as done; the other
	// protocols delimit their responses themselves.
	ResponseBytes int
	// Workers is the number of workers an attack starts with; more are
	// added when all are busy, up to MaxWorkers. MaxWorkers 0 means one
	// per request that can be in flight (a connection, or a stream of
	// maxStreams on each h2c and grpc connection): a worker beyond that
	// would only wait for a connection, a goroutine more for a generator
	// that already falls behind. Requests that find every worker busy wait
	// in the pacer and their latency, from the intended time, shows it
	// either way.
	Workers    uint64
	MaxWorkers uint64
	// Timeout bounds each request, the wait for a connection included.
	Timeout time.Duration
	// ConnectionRequests, when > 0, closes each connection of the lean
	// HTTP/1.1 client and of tcp-rr after that many requests, and the next
	// request opens a new one: clients whose connections come and go, as
	// a datapath installed under load sees them. 0 keeps every connection
	// for the whole load.
	ConnectionRequests int
}

// Args renders o as the arguments of the meshbench executable that start a
// load agent with it.
func (o LoadOptions) Args() []string {
	return []string{"agent", LoadRole,
		"--targets", strings.Join(o.Targets, ","),
		"--protocol", cmp.Or(o.Protocol, HTTP1),
		"--client", cmp.Or(o.Client, LeanClient),
		"--connections", strconv.Itoa(o.Connections),
		"--request-bytes", strconv.Itoa(o.RequestBytes),
		"--response-bytes", strconv.Itoa(o.ResponseBytes),
		"--workers", strconv.FormatUint(o.Workers, 10),
		"--max-workers", strconv.FormatUint(o.MaxWorkers, 10),
		"--timeout", o.Timeout.String(),
		"--connection-requests", strconv.Itoa(o.ConnectionRequests),
	}
}

func parseLoadFlags(args []string, stderr io.Writer) (LoadOptions, error) {
	var o LoadOptions
	fs := flag.NewFlagSet(LoadRole, flag.ContinueOnError)
	fs.Func("targets", "comma-separated http `URLs` with IP literal hosts", func(s string) error {
		var err error
		o.Targets, err = parseTargets(s)
		return err
	})
	fs.StringVar(&o.Protocol, "protocol", HTTP1, "`protocol` to send: "+strings.Join(Protocols, ", "))
	fs.StringVar(&o.Client, "client", LeanClient, "`client` of http1 and h2c: "+strings.Join(Clients, ", "))
	fs.IntVar(&o.Connections, "connections", DefaultConnections, "keep-alive connections per target")
	fs.IntVar(&o.RequestBytes, "request-bytes", 0, "request body size in `bytes` (http: 0 is a GET)")
	fs.IntVar(&o.ResponseBytes, "response-bytes", 0, "TCP response size in `bytes`")
	fs.Uint64Var(&o.Workers, "workers", DefaultWorkers, "initial number of workers")
	fs.Uint64Var(&o.MaxWorkers, "max-workers", 0, "maximum number of workers (0: one per connection)")
	fs.DurationVar(&o.Timeout, "timeout", DefaultTimeout, "per-request timeout")
	fs.IntVar(&o.ConnectionRequests, "connection-requests", 0, "close each connection after this many `requests` (lean http1, tcp-rr; 0: never)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return o, err
	}
	if err := checkProtocol(o.Protocol); err != nil {
		return o, err
	}
	switch {
	case o.ConnectionRequests < 0:
		return o, fmt.Errorf("--connection-requests %d is negative", o.ConnectionRequests)
	case o.ConnectionRequests > 0 && !(o.Protocol == TCPRR || o.Protocol == HTTP1 && o.Client == LeanClient):
		return o, errors.New("--connection-requests applies to tcp-rr and to http1 with the lean client only")
	case !slices.Contains(Clients, o.Client):
		return o, fmt.Errorf("--client %q is not one of %s", o.Client, strings.Join(Clients, ", "))
	case len(o.Targets) == 0:
		return o, errors.New("--targets is required")
	case o.Connections < 1:
		return o, errors.New("--connections must be at least 1")
	case o.RequestBytes < 0 || o.ResponseBytes < 0:
		return o, errors.New("--request-bytes and --response-bytes must not be negative")
	case o.Workers < 1:
		return o, errors.New("--workers must be at least 1")
	case o.Timeout <= 0:
		return o, errors.New("--timeout must be positive")
	}
	return o, nil
}

// parseTargets splits a comma list of URLs and checks that each is http with
// an IP literal host: agents never resolve names.
func parseTargets(list string) ([]string, error) {
	var targets, names []string
	for raw := range strings.SplitSeq(list, ",") {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			return nil, fmt.Errorf("parse target: %w", err)
		case u.Scheme != "http" || u.Host == "":
			return nil, fmt.Errorf("target %q is not an http://IP:port/ URL", raw)
		}
		if _, err := netip.ParseAddr(u.Hostname()); err != nil {
			names = append(names, u.Hostname())
		}
		targets = append(targets, raw)
	}
	if len(names) > 0 {
		return nil, fmt.Errorf("targets must name IP addresses, not hosts (%s): meshbench never resolves names", strings.Join(names, ", "))
	}
	return targets, nil
}

// Load runs the load role: it answers Attack with the samples of an
// open-loop attack and Stats with its totals.
func Load(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseLoadFlags(args, stderr)
	if err != nil {
		return err
	}
	l, err := newLoader(o)
	if err != nil {
		return err
	}
	defer l.close()
	enc := wire.NewEncoder(stdout)
	if err := enc.Encode(wire.Message{Ready: &wire.Ready{Pid: os.Getpid()}}); err != nil {
		return err
	}
	return control(ctx, stdin, enc, l.handle)
}

// loader runs one attack at a time. Its client (h2c, and http1 with
// VegetaClient: vegeta's) or exchanger (the other protocols, and http1
// with LeanClient: openLoop's) outlives the attacks, so connections stay
// warm from one to the next.
type loader struct {
	client   *http.Client
	targeter vegeta.Targeter
	exch     exchanger
	// streams runs the attacks of protocol stream, which has no requests.
	streams *streamer
	targets int
	// Workers of an open-loop attack (a closed loop has one).
	workers    uint64
	maxWorkers uint64
	// Totals over all attacks; only the command loop touches them.
	requests, errors uint64
	// dials counts the connections every protocol's client opened, which
	// the datapaths' counts are checked against.
	dials *dialer
}

// dialer opens the load agent's TCP connections, whatever the protocol, and
// counts those it opened.
type dialer struct {
	d net.Dialer
	n atomic.Uint64
}

func newDialer() *dialer { return &dialer{d: net.Dialer{KeepAlive: 30 * time.Second}} }

// DialContext dials as net.Dialer does and counts a connection it opened.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.d.DialContext(ctx, network, addr)
	if err == nil {
		d.n.Add(1)
	}
	return c, err
}

func newLoader(o LoadOptions) (*loader, error) {
	l := &loader{targets: len(o.Targets), workers: o.Workers, maxWorkers: o.MaxWorkers, dials: newDialer()}
	if l.maxWorkers == 0 {
		inFlight := o.Connections
		if multiplexed(o.Protocol) {
			inFlight *= maxStreams
		}
		l.maxWorkers = uint64(inFlight * len(o.Targets))
	}
	var addrs []string
	for _, t := range o.Targets {
		u, _ := url.Parse(t) // parseTargets checked it
		addrs = append(addrs, u.Host)
	}
	switch o.Protocol {
	case GRPC:
		c, err := newGRPCClient(addrs, o, l.dials)
		if err != nil {
			return nil, err
		}
		l.exch = c
		return l, nil
	case TCPRR:
		l.exch = newTCPRR(addrs, o, l.dials)
		return l, nil
	case TCPCRR:
		l.exch = newTCPCRR(addrs, o, l.dials)
		return l, nil
	case Stream:
		l.streams = newStreamer(addrs, o, l.dials)
		return l, nil
	case HTTP1:
		if o.Client != VegetaClient {
			l.exch = newLeanHTTP(o.Targets, o, l.dials)
			return l, nil
		}
	}
	client, targets := newHTTPClient(o, l.dials)
	if o.Protocol == H2C && o.Client != VegetaClient {
		l.exch = &h2cExchanger{client: client, targets: targets}
		return l, nil
	}
	l.client, l.targeter = client, vegeta.NewStaticTargeter(targets...)
	return l, nil
}

// newHTTPClient is the net/http client of protocols http1 and h2c, and
// the targets it attacks.
func newHTTPClient(o LoadOptions, d *dialer) (*http.Client, []vegeta.Target) {
	// The transport is what vegeta.KeepAlive(true), Connections and
	// MaxConnections would configure, built here once to be shared by
	// every attack's Attacker. No Proxy: agents talk to pod and service
	// IPs directly, whatever the environment says.
	var tr http.RoundTripper = &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: o.Connections,
		MaxConnsPerHost:     o.Connections,
		DisableCompression:  true,
	}
	if o.Protocol == H2C {
		tr = newH2CConns(o.Connections, d)
	}
	client := &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		// Redirects are answers to count, not to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	method, body := http.MethodGet, []byte(nil)
	if o.RequestBytes > 0 {
		method, body = http.MethodPost, make([]byte, o.RequestBytes)
	}
	targets := make([]vegeta.Target, len(o.Targets))
	for i, u := range o.Targets {
		targets[i] = vegeta.Target{Method: method, URL: u, Body: body}
	}
	return client, targets
}

// close ends the loader's connections.
func (l *loader) close() {
	if l.streams != nil {
		return // every transfer closed its connection
	}
	if l.exch != nil {
		l.exch.close()
		return
	}
	l.client.CloseIdleConnections()
}

func (l *loader) handle(ctx context.Context, cmd wire.Command, enc *wire.Encoder) error {
	switch {
	case cmd.Attack != nil:
		return l.attack(ctx, cmd.ID, *cmd.Attack, enc)
	case cmd.Stats:
		st := map[string]uint64{
			"requests":    l.requests,
			"errors":      l.errors,
			"connections": l.dials.n.Load(),
		}
		if l.streams != nil {
			st["stream_write_waits"] = l.streams.waits.Load()
		}
		return enc.Encode(wire.Message{ID: cmd.ID, Stats: st})
	}
	return errors.New("empty command: want an attack or stats")
}
