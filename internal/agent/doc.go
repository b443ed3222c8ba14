// Package agent holds the workloads meshbench runs inside pods and nodes: the
// `meshbench agent ROLE [flags]` processes that the runner starts and drives
// over the internal/wire protocol, and what every role shares: Run, which
// dispatches to a role by name, the files a role gets on stdin, and the
// typed methods (Method, Handle, Invoke) of the roles that answer calls.
//
// Workload roles:
//
//   - server (Server, ServerOptions): a lean echo server of one protocol
//     (Protocols: HTTP/1.1, h2c, the gRPC echo service, or fixed TCP
//     exchanges) with a fixed response size, an optional service time and
//     an optional one-off stall;
//   - load (Load, LoadOptions): an open-loop load generator of the same
//     protocols that measures every request from its intended send time,
//     paced by one schedule: openLoop's workers, each of which waits for
//     its request's intended time and sends it itself (http1 over the
//     agent's own HTTP/1.1 client), or, for http1 and h2c with
//     --client vegeta, vegeta's attacker.
//
// The other roles live beside what they serve (the proxy, the node agents);
// builtin/roles.go lists every role a meshbench binary runs. Each role
// package exports its role function, an options type whose Args renders
// the role's command line and which the role parses its flags into, and,
// for a role that answers calls, a client with a method per call.
//
// Lifecycle of every role: parse flags, start serving, send one Message with
// Ready, then answer Commands read from stdin one at a time until stdin
// closes or the context ends; both are a clean exit.
package agent
