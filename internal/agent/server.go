package agent

import (
	"cmp"
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
	"strings"
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
	// Protocol is what the server speaks (Protocols; "" is http1): HTTP/1.1
	// for http1, h2c only for h2c, the gRPC echo service for grpc, fixed
	// exchanges of RequestBytes and ResponseBytes for tcp-rr and tcp-crr,
	// a sink of bytes for stream.
	Protocol string
	// RequestBytes is the size of a tcp-rr or tcp-crr request, which the
	// server reads before answering (at least 1 byte; see tcpSize).
	RequestBytes int
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
		"--protocol", cmp.Or(o.Protocol, HTTP1),
		"--request-bytes", strconv.Itoa(o.RequestBytes),
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
	fs.StringVar(&o.Protocol, "protocol", HTTP1, "`protocol` to serve: "+strings.Join(Protocols, ", "))
	fs.IntVar(&o.RequestBytes, "request-bytes", 0, "tcp-rr and tcp-crr request size in `bytes`")
	fs.IntVar(&o.ResponseBytes, "response-bytes", 0, "response body size in `bytes`")
	fs.DurationVar(&o.ServiceTime, "service-time", 0, "wait before answering each request")
	fs.Uint64Var(&o.StallAfter, "stall-after", 0, "after `n` requests, stall the next one once (0: never)")
	fs.DurationVar(&o.StallFor, "stall-for", 0, "how long the one stalled request waits")
	if err := parseFlags(fs, args, stderr); err != nil {
		return o, err
	}
	if err := checkProtocol(o.Protocol); err != nil {
		return o, err
	}
	switch {
	case o.ResponseBytes < 0 || o.RequestBytes < 0:
		return o, errors.New("--request-bytes and --response-bytes must not be negative")
	case o.ServiceTime < 0 || o.StallFor < 0:
		return o, errors.New("--service-time and --stall-for must not be negative")
	}
	return o, nil
}

// Server runs the server role: a lean echo server of its protocol that
// answers Stats with the requests it served ("requests": HTTP requests,
// gRPC calls, TCP exchanges or finished stream transfers), the
// "connections" it accepted and the "bytes" of stream transfers it read.
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
	srv := newProtocolServer(o, e, stderr)
	served := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		served <- srv.serve(ln)
		cancel()
	}()

	enc := wire.NewEncoder(stdout)
	err = enc.Encode(wire.Message{Ready: &wire.Ready{Addr: ln.Addr().String(), Pid: os.Getpid()}})
	if err == nil {
		err = control(ctx, stdin, enc, e.handle)
	}
	srv.close()
	if serr := <-served; serr != nil {
		return fmt.Errorf("serve %s: %w", o.Protocol, serr)
	}
	return err
}

// protocolServer serves one protocol on a listener until close.
type protocolServer interface {
	// serve returns nil once close ended it, and why it stopped otherwise.
	serve(ln net.Listener) error
	close()
}

func newProtocolServer(o ServerOptions, e *echo, stderr io.Writer) protocolServer {
	switch o.Protocol {
	case GRPC:
		return newGRPCServer(e)
	case TCPRR, TCPCRR:
		ctx, cancel := context.WithCancel(context.Background())
		return &tcpServer{e: e, reqBytes: o.RequestBytes, once: o.Protocol == TCPCRR, ctx: ctx, cancel: cancel}
	case Stream:
		ctx, cancel := context.WithCancel(context.Background())
		return &streamServer{e: e, ctx: ctx, cancel: cancel}
	}
	srv := &http.Server{Handler: e, ErrorLog: log.New(stderr, "server: ", 0), ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			e.conns.Add(1)
		}
	}}
	if o.Protocol == H2C {
		// h2c with prior knowledge only: a client that fell back to
		// HTTP/1.1 would measure another protocol, so it fails instead.
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	return httpServer{srv}
}

type httpServer struct{ *http.Server }

func (s httpServer) serve(ln net.Listener) error {
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s httpServer) close() { s.Close() }

// echo answers every request with the same preallocated body.
type echo struct {
	body          []byte
	contentLength []string
	serviceTime   time.Duration
	stallAfter    uint64
	stallFor      time.Duration
	requests      atomic.Uint64
	// conns counts the connections accepted.
	conns atomic.Uint64
	// bytes counts the bytes a stream server read.
	bytes atomic.Uint64
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
	if e.wait(r.Context(), n) != nil {
		return // the client went away
	}
	// Assigning the canonical keys directly saves net/http an allocation
	// per header.
	h := w.Header()
	h["Content-Type"] = contentType
	h["Content-Length"] = e.contentLength
	_, _ = w.Write(e.body) // a failed write is the client's to see
}

// wait waits the service time before answering request n (from 1), and
// the stall once; it fails when ctx ends first.
func (e *echo) wait(ctx context.Context, n uint64) error {
	wait := e.serviceTime
	if e.stallAfter > 0 && n == e.stallAfter+1 {
		wait += e.stallFor
	}
	if wait > 0 {
		return sleepUntil(ctx, time.Now().Add(wait))
	}
	return nil
}

func (e *echo) handle(_ context.Context, cmd wire.Command, enc *wire.Encoder) error {
	if !cmd.Stats {
		return errors.New("the server answers only stats commands")
	}
	return enc.Encode(wire.Message{ID: cmd.ID, Stats: map[string]uint64{
		"requests":    e.requests.Load(),
		"connections": e.conns.Load(),
		"bytes":       e.bytes.Load(),
	}})
}
