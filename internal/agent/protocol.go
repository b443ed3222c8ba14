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
	// per connection, sent by vegeta.
	HTTP1 = "http1"
	// H2C is HTTP/2 over cleartext with prior knowledge, sent by vegeta
	// over exactly Connections connections per target, requests
	// multiplexed on them as streams.
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
)

// Protocols lists every protocol.
var Protocols = []string{HTTP1, H2C, GRPC, TCPRR, TCPCRR}

// maxStreams is how many requests the load role keeps in flight on one
// HTTP/2 connection (h2c, grpc) at most: below the servers' limit of
// concurrent streams (250 in net/http and 100 in grpc-go's defaults... see
// grpcMaxStreams), so that a request never waits for a stream the server
// would refuse.
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
