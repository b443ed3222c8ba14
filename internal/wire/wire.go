// Package wire is the control protocol between the runner and the agents it
// starts inside pods and nodes (the hidden `meshbench agent` subcommand).
//
// The runner writes Commands to the agent's stdin and reads Messages from its
// stdout, both as one gob stream per direction. Every agent first sends a
// Message with Ready set once it serves; it exits when its stdin closes.
package wire

import (
	"encoding/gob"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/meshbench/meshbench/results"
)

// Command is one request from the runner to an agent.
type Command struct {
	// ID is echoed in the reply Message that ends the command.
	ID uint64
	// Attack asks a load agent for an open-loop attack.
	Attack *Attack
	// Stats asks any agent for its counters.
	Stats bool
	// Call asks a node agent (cost sampler, path probe, eBPF loader) to run
	// one of its methods.
	Call *Call
}

// Call names a node agent's method; Args and the reply's Result are JSON.
type Call struct {
	Method string
	Args   []byte
}

// Attack is an open-loop attack at a constant rate.
type Attack struct {
	// Tag labels the attack's samples ("warmup", "measure", "probe").
	Tag      string
	Rate     float64 // requests per second; > 0
	Duration time.Duration
	// Count, when > 0, sends exactly Count requests one after another
	// (closed loop, for the path probe) instead of Rate/Duration.
	Count int
}

// Message is one message from an agent to the runner.
type Message struct {
	// ID is the Command this message answers (0 for unsolicited ones).
	ID uint64
	// Ready is sent once, when the agent serves.
	Ready *Ready
	// Samples stream during an attack, in batches.
	Samples []results.Sample
	// Done ends an attack.
	Done *Done
	// Stats answers a Stats command.
	Stats map[string]uint64
	// Result answers a Call (JSON; "null" for methods without a result).
	Result []byte
	// Err ends a command that failed.
	Err string
}

// Ready reports what the agent listens on.
type Ready struct {
	Addr string
	Pid  int
}

// Done summarises a finished attack as the agent saw it.
type Done struct {
	Tag string
	// Requests were sent, of the Planned the schedule meant to send; the
	// rest were not sent by the attack's deadline.
	Requests uint64
	Planned  uint64
	// Began is the attack's start (Unix ns); Ended the last response.
	Began int64
	Ended int64
}

// Encoder writes values of one direction; it is safe for concurrent use.
type Encoder struct {
	mu  sync.Mutex
	enc *gob.Encoder
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder { return &Encoder{enc: gob.NewEncoder(w)} }

// Encode writes v (a Command or a Message).
func (e *Encoder) Encode(v any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.enc.Encode(v); err != nil {
		return fmt.Errorf("encode %T: %w", v, err)
	}
	return nil
}

// NewDecoder returns a gob decoder reading one direction from r.
func NewDecoder(r io.Reader) *gob.Decoder { return gob.NewDecoder(r) }
