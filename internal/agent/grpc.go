package agent

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The gRPC echo service, written by hand instead of generated, since it has
// one method on a well-known message type; any gRPC tool can call it with
// this definition:
//
//	syntax = "proto3";
//	package meshbench;
//	import "google/protobuf/wrappers.proto";
//	service Echo {
//	  rpc Echo(google.protobuf.BytesValue) returns (google.protobuf.BytesValue);
//	}
//
// The server answers every call with a body of its response size, whatever
// the request held.
const (
	grpcService = "meshbench.Echo"
	grpcMethod  = "/" + grpcService + "/Echo"
)

// MaxGRPCBytes is the largest request or response body a call can carry:
// gRPC's default 4 MiB limit on a received message less the protobuf
// framing of BytesValue's field (a tag byte and a length of up to 4 bytes
// here), with room to spare. scenarios.MaxGRPCBytes is the same.
const MaxGRPCBytes = 4<<20 - 16

// grpcEchoer is the service's handler type.
type grpcEchoer interface {
	echo(ctx context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

var grpcEchoDesc = grpc.ServiceDesc{
	ServiceName: grpcService,
	HandlerType: (*grpcEchoer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(grpcEchoer).echo(ctx, in)
		},
	}},
}

// grpcServer serves the echo service.
type grpcServer struct {
	e   *echo
	srv *grpc.Server
}

func newGRPCServer(e *echo) *grpcServer {
	s := &grpcServer{e: e, srv: grpc.NewServer(grpc.StatsHandler(connCounter{e}))}
	s.srv.RegisterService(&grpcEchoDesc, s)
	return s
}

func (s *grpcServer) echo(ctx context.Context, _ *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	if err := s.e.wait(ctx, s.e.requests.Add(1)); err != nil {
		return nil, err
	}
	// A message per call: marshalling one message from many goroutines at
	// once is not something protobuf promises to allow.
	return &wrapperspb.BytesValue{Value: s.e.body}, nil
}

// connCounter counts the gRPC server's connections.
type connCounter struct{ e *echo }

func (c connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c connCounter) HandleRPC(context.Context, stats.RPCStats)                       {}
func (c connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (c connCounter) HandleConn(_ context.Context, s stats.ConnStats) {
	if _, ok := s.(*stats.ConnBegin); ok {
		c.e.conns.Add(1)
	}
}

// serve returns nil once Stop ended it.
func (s *grpcServer) serve(ln net.Listener) error { return s.srv.Serve(ln) }

func (s *grpcServer) close() { s.srv.Stop() }

// grpcClient calls the echo service over Connections client connections
// per target (each one HTTP/2 connection: one address, pick-first), calls
// spread round-robin over them.
type grpcClient struct {
	conns   [][]*grpc.ClientConn
	next    []atomic.Uint64
	body    []byte
	timeout time.Duration
}

func newGRPCClient(addrs []string, o LoadOptions, d *dialer) (*grpcClient, error) {
	c := &grpcClient{next: make([]atomic.Uint64, len(addrs)), body: make([]byte, o.RequestBytes), timeout: o.Timeout}
	for _, addr := range addrs {
		var conns []*grpc.ClientConn
		for range o.Connections {
			// passthrough: the address is an IP literal, never resolved.
			cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
			if err != nil {
				c.conns = append(c.conns, conns)
				c.close()
				return nil, fmt.Errorf("grpc client for %s: %w", addr, err)
			}
			cc.Connect()
			conns = append(conns, cc)
		}
		c.conns = append(c.conns, conns)
	}
	return c, nil
}

func (c *grpcClient) exchange(ctx context.Context, target int) outcome {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conns := c.conns[target]
	cc := conns[(c.next[target].Add(1)-1)%uint64(len(conns))]
	resp := new(wrapperspb.BytesValue)
	if err := cc.Invoke(ctx, grpcMethod, &wrapperspb.BytesValue{Value: c.body}, resp); err != nil {
		return outcome{err: err}
	}
	return outcome{code: exchangeOK, bytesIn: uint32(len(resp.GetValue()))}
}

func (c *grpcClient) close() {
	for _, conns := range c.conns {
		for _, cc := range conns {
			cc.Close()
		}
	}
}
