// Package agent holds the workloads meshbench runs inside pods and nodes: the
// `meshbench agent ROLE [flags]` processes that the runner starts and drives
// over the internal/wire protocol.
//
// Built-in roles:
//
//   - server: a lean HTTP/1.1 echo server with a fixed response size, an
//     optional service time and an optional one-off stall;
//   - load: an open-loop load generator built on the vegeta library that
//     measures every request from its intended send time.
//
// Other packages add roles with Register (the shared proxy does).
//
// Lifecycle of every role: parse flags, start serving, send one Message with
// Ready, then answer Commands read from stdin one at a time until stdin
// closes or the context ends; both are a clean exit.
package agent
