package agent

import (
	"fmt"
	"slices"
	"strings"
)

// The protocols the load and server roles speak (scenarios.Protocols names
// the same): the flag --protocol of both.
const (
	// HTTP1 is HTTP/1.1 on keep-alive connections, one request in flight
	// per connection, sent by the lean client or vegeta (Clients).
	HTTP1 = "http1"
	// H2C is HTTP/2 over cleartext with prior knowledge, sent by
	// openLoop's workers or vegeta (Clients) over exactly Connections
	// connections per target, requests multiplexed on them as streams.
	H2C = "h2c"
	// GRPC is unary calls of the echo service (grpc.go) over Connections
	// gRPC connections per target.
	GRPC = "grpc"
	// TCPRR is a request of RequestBytes and a response of ResponseBytes
	// on Connections persistent TCP connections per target, one exchange
	// in flight on each.
	TCPRR = "tcp-rr"
	// TCPCRR is one exchange per TCP connection: connect, request,
	// response, and the server closes; Connections bounds the exchanges in
	// flight per target.
	TCPCRR = "tcp-crr"
	// Stream is one-way bulk transfer, client to server, on Connections
	// connections per target for the attack's duration (stream.go); it
	// has no requests to pace, so an attack's rate does not apply.
	Stream = "stream"
)

// Protocols lists every protocol.
var Protocols = []string{HTTP1, H2C, GRPC, TCPRR, TCPCRR, Stream}

// maxStreams is how many workers the load role has per multiplexed
// connection (h2c, grpc), and so about how many requests it keeps in flight
// on each, spread round-robin: within net/http's default limit of 250
// concurrent streams per connection (grpc-go's server sets none), so that
// the server's limit is never what holds requests back. Requests beyond
// wait for a worker, and their latency from the intended time shows it.
const maxStreams = 100

func checkProtocol(p string) error {
	if !slices.Contains(Protocols, p) {
		return fmt.Errorf("--protocol %q is not one of %s", p, strings.Join(Protocols, ", "))
	}
	return nil
}

// multiplexed reports whether p carries many requests at once on one
// connection.
func multiplexed(p string) bool { return p == H2C || p == GRPC }
