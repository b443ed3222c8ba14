package agent

import (
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
	// Targets are http URLs whose hosts are IP literals, attacked round-robin.
	Targets []string
	// Connections caps the keep-alive connections per target, busy or idle.
	Connections int
	// RequestBytes, when > 0, makes every request a POST with a body of
	// that size; otherwise requests are GETs.
	RequestBytes int
	// Workers is the number of vegeta workers an attack starts with; vegeta
	// adds more when all are busy, up to MaxWorkers. MaxWorkers 0 means one
	// per connection: a worker beyond that would only wait for a connection,
	// a goroutine more for a generator that already falls behind. Requests
	// that find every worker busy wait in the pacer and their latency, from
	// the intended time, shows it either way.
	Workers    uint64
	MaxWorkers uint64
	// Timeout bounds each request, the wait for a connection included.
	Timeout time.Duration
}

// Args renders o as the arguments of the meshbench executable that start a
// load agent with it.
func (o LoadOptions) Args() []string {
	return []string{"agent", LoadRole,
		"--targets", strings.Join(o.Targets, ","),
		"--connections", strconv.Itoa(o.Connections),
		"--request-bytes", strconv.Itoa(o.RequestBytes),
		"--workers", strconv.FormatUint(o.Workers, 10),
		"--max-workers", strconv.FormatUint(o.MaxWorkers, 10),
		"--timeout", o.Timeout.String(),
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
	fs.IntVar(&o.Connections, "connections", DefaultConnections, "keep-alive connections per target")
	fs.IntVar(&o.RequestBytes, "request-bytes", 0, "POST body size in `bytes` (0: GET)")
	fs.Uint64Var(&o.Workers, "workers", DefaultWorkers, "initial number of workers")
	fs.Uint64Var(&o.MaxWorkers, "max-workers", 0, "maximum number of workers (0: one per connection)")
	fs.DurationVar(&o.Timeout, "timeout", DefaultTimeout, "per-request timeout")
	if err := parseFlags(fs, args, stderr); err != nil {
		return o, err
	}
	switch {
	case len(o.Targets) == 0:
		return o, errors.New("--targets is required")
	case o.Connections < 1:
		return o, errors.New("--connections must be at least 1")
	case o.RequestBytes < 0:
		return o, errors.New("--request-bytes must not be negative")
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
	l := newLoader(o)
	defer l.client.CloseIdleConnections()
	enc := wire.NewEncoder(stdout)
	if err := enc.Encode(wire.Message{Ready: &wire.Ready{Pid: os.Getpid()}}); err != nil {
		return err
	}
	return control(ctx, stdin, enc, l.handle)
}

// loader runs one attack at a time. Its client outlives the attacks, so
// connections stay warm from one to the next.
type loader struct {
	client     *http.Client
	targeter   vegeta.Targeter
	workers    uint64
	maxWorkers uint64
	// Totals over all attacks; only the command loop touches them.
	requests, errors uint64
	// conns counts the TCP connections the client opened, which the
	// datapaths' counts are checked against.
	conns *atomic.Uint64
}

func newLoader(o LoadOptions) *loader {
	// The transport is what vegeta.KeepAlive(true), Connections and
	// MaxConnections would configure, built here once to be shared by
	// every attack's Attacker. No Proxy: agents talk to pod and service
	// IPs directly, whatever the environment says.
	conns := new(atomic.Uint64)
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err == nil {
				conns.Add(1)
			}
			return c, err
		},
		MaxIdleConnsPerHost: o.Connections,
		MaxConnsPerHost:     o.Connections,
		DisableCompression:  true,
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
	maxWorkers := o.MaxWorkers
	if maxWorkers == 0 {
		maxWorkers = uint64(o.Connections * len(o.Targets))
	}
	return &loader{
		client:     client,
		targeter:   vegeta.NewStaticTargeter(targets...),
		workers:    o.Workers,
		maxWorkers: maxWorkers,
		conns:      conns,
	}
}

func (l *loader) handle(ctx context.Context, cmd wire.Command, enc *wire.Encoder) error {
	switch {
	case cmd.Attack != nil:
		return l.attack(ctx, cmd.ID, *cmd.Attack, enc)
	case cmd.Stats:
		return enc.Encode(wire.Message{ID: cmd.ID, Stats: map[string]uint64{
			"requests":    l.requests,
			"errors":      l.errors,
			"connections": l.conns.Load(),
		}})
	}
	return errors.New("empty command: want an attack or stats")
}
