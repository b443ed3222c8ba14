package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/meshbench/meshbench/internal/wire"
)

// ServerRole is the name of the server role: `meshbench agent server`.
const ServerRole = "server"

// DefaultListen is the server role's default listen address.
const DefaultListen = ":8080"

// ServerOptions are the server role's flags.
type ServerOptions struct {
	// Listen is the TCP address to serve on.
	Listen string
	// ResponseBytes is the size of every response body.
	ResponseBytes int
	// ServiceTime is how long the server waits before answering each request.
	ServiceTime time.Duration
	// StallAfter, when > 0, makes request StallAfter+1 wait StallFor more,
	// once: a stalled server for tests of coordinated omission.
	StallAfter uint64
	StallFor   time.Duration
}

// Args renders o as the arguments of the meshbench executable that start a
// server with it.
func (o ServerOptions) Args() []string {
	return []string{"agent", ServerRole,
		"--listen", o.Listen,
		"--response-bytes", strconv.Itoa(o.ResponseBytes),
		"--service-time", o.ServiceTime.String(),
		"--stall-after", strconv.FormatUint(o.StallAfter, 10),
		"--stall-for", o.StallFor.String(),
	}
}

func parseServerFlags(args []string, stderr io.Writer) (ServerOptions, error) {
	var o ServerOptions
	fs := flag.NewFlagSet(ServerRole, flag.ContinueOnError)
	fs.StringVar(&o.Listen, "listen", DefaultListen, "TCP `address` to serve on")
	fs.IntVar(&o.ResponseBytes, "response-bytes", 0, "response body size in `bytes`")
	fs.DurationVar(&o.ServiceTime, "service-time", 0, "wait before answering each request")
	fs.Uint64Var(&o.StallAfter, "stall-after", 0, "after `n` requests, stall the next one once (0: never)")
	fs.DurationVar(&o.StallFor, "stall-for", 0, "how long the one stalled request waits")
	if err := parseFlags(fs, args, stderr); err != nil {
		return o, err
	}
	switch {
	case o.ResponseBytes < 0:
		return o, errors.New("--response-bytes must not be negative")
	case o.ServiceTime < 0 || o.StallFor < 0:
		return o, errors.New("--service-time and --stall-for must not be negative")
	}
	return o, nil
}

// Server runs the server role: a lean HTTP/1.1 echo server that answers
// Stats with the requests it served.
func Server(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseServerFlags(args, stderr)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	e := newEcho(o)
	srv := &http.Server{Handler: e, ErrorLog: log.New(stderr, "server: ", 0)}
	served := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		served <- srv.Serve(ln)
		cancel()
	}()

	enc := wire.NewEncoder(stdout)
	err = enc.Encode(wire.Message{Ready: &wire.Ready{Addr: ln.Addr().String(), Pid: os.Getpid()}})
	if err == nil {
		err = control(ctx, stdin, enc, e.handle)
	}
	srv.Close()
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", serr)
	}
	return err
}

// echo answers every request with the same preallocated body.
type echo struct {
	body          []byte
	contentLength []string
	serviceTime   time.Duration
	stallAfter    uint64
	stallFor      time.Duration
	requests      atomic.Uint64
}

// contentType is set explicitly so that net/http does not sniff each body.
var contentType = []string{"application/octet-stream"}

func newEcho(o ServerOptions) *echo {
	return &echo{
		body:          make([]byte, o.ResponseBytes),
		contentLength: []string{strconv.Itoa(o.ResponseBytes)},
		serviceTime:   o.ServiceTime,
		stallAfter:    o.StallAfter,
		stallFor:      o.StallFor,
	}
}

func (e *echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := e.requests.Add(1)
	// Read the whole request before answering, as a real service would.
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	wait := e.serviceTime
	if e.stallAfter > 0 && n == e.stallAfter+1 {
		wait += e.stallFor
	}
	if wait > 0 && sleepUntil(r.Context(), time.Now().Add(wait)) != nil {
		return // the client went away
	}
	// Assigning the canonical keys directly saves net/http an allocation
	// per header.
	h := w.Header()
	h["Content-Type"] = contentType
	h["Content-Length"] = e.contentLength
	_, _ = w.Write(e.body) // a failed write is the client's to see
}

func (e *echo) handle(_ context.Context, cmd wire.Command, enc *wire.Encoder) error {
	if !cmd.Stats {
		return errors.New("the server answers only stats commands")
	}
	return enc.Encode(wire.Message{ID: cmd.ID, Stats: map[string]uint64{"requests": e.requests.Load()}})
}
