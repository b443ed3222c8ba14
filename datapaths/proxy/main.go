package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/meshbench/meshbench/datapaths/steer"
	"github.com/meshbench/meshbench/internal/wire"
)

// Role is the agent role that runs a proxy: `meshbench agent proxy [flags]`
// (Options).
const Role = "proxy"

// Main runs the proxy as an agent role: it parses args (the role's flags)
// into a Config, listens, sends a wire.Message with Ready once it does
// (Addr lists the listeners as "outbound=IP:PORT,inbound=...,tunnel=..."),
// answers wire.Command Stats with Stats, and returns when stdin closes or
// ctx ends. It logs failed connections to stderr.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := opts.Config()
	if err != nil {
		return err
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, nil))
	p, err := New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := p.Listen(ctx); err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx) }()

	enc := wire.NewEncoder(stdout)
	if err := enc.Encode(wire.Message{Ready: &wire.Ready{Addr: p.Addrs().String(), Pid: os.Getpid()}}); err != nil {
		cancel()
		<-served
		return err
	}
	answered := make(chan error, 1)
	// On ctx's end this goroutine stays blocked reading stdin until the
	// caller closes it; the process is exiting by then.
	go func() { answered <- answer(wire.NewDecoder(stdin), enc, p, opts.CountTable) }()
	select {
	case err := <-served:
		return err
	case err := <-answered:
		cancel()
		if serr := <-served; serr != nil {
			return serr
		}
		return err
	}
}

// answer serves Commands until stdin closes; with a countTable, Stats
// include its redirect counters.
func answer(dec interface{ Decode(any) error }, enc *wire.Encoder, p *Proxy, countTable string) error {
	for {
		var cmd wire.Command
		if err := dec.Decode(&cmd); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read command: %w", err)
		}
		reply := wire.Message{ID: cmd.ID}
		switch {
		case cmd.Stats:
			reply.Stats = p.Stats()
			if countTable != "" {
				hits, err := steer.Hits(steer.SelfNetNS, countTable)
				if err != nil {
					reply.Err = err.Error()
				}
				reply.Stats[StatRedirectHits] = hits
			}
		case cmd.Attack != nil:
			reply.Err = "the proxy role does not attack"
		default:
			reply.Err = "empty command"
		}
		if err := enc.Encode(reply); err != nil {
			return err
		}
	}
}

// String lists the open listeners: "outbound=IP:PORT,inbound=IP:PORT".
func (a Addrs) String() string {
	var parts []string
	for _, l := range []struct {
		name string
		addr netip.AddrPort
	}{{"outbound", a.Outbound}, {"inbound", a.Inbound}, {"tunnel", a.Tunnel}} {
		if l.addr.IsValid() {
			parts = append(parts, l.name+"="+l.addr.String())
		}
	}
	return strings.Join(parts, ",")
}
