package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/meshbench/meshbench/results"
)

// seedStream encodes values as one direction of the protocol.
func seedStream(f *testing.F, values ...any) []byte {
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			f.Fatal(err)
		}
	}
	return buf.Bytes()
}

// fuzzStream decodes data as a stream of T until it ends or breaks: no
// panic, and every value decoded, encoded again, decodes to the same value.
func fuzzStream[T any](t *testing.T, data []byte) {
	dec := NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var v T
		if err := dec.Decode(&v); err != nil {
			return
		}
		var buf bytes.Buffer
		if err := NewEncoder(&buf).Encode(v); err != nil {
			t.Fatalf("encode value %d: %v", i, err)
		}
		var again T
		if err := NewDecoder(&buf).Decode(&again); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("decode value %d encoded again: %v", i, err)
		}
		if !reflect.DeepEqual(again, v) {
			t.Fatalf("value %d changed in a round trip:\n%+v\nthen\n%+v", i, v, again)
		}
	}
}

// FuzzCommands decodes the runner-to-agent direction, as agents read it.
func FuzzCommands(f *testing.F) {
	f.Add(seedStream(f,
		Command{ID: 1, Attack: &Attack{Tag: "measure", Rate: 1000, Duration: 5 * time.Second}},
		Command{ID: 2, Stats: true},
		Command{ID: 3, Call: &Call{Method: "sample", Args: []byte(`{"pids":[1,2]}`)}},
		Command{ID: 4, Attack: &Attack{Tag: "probe", Count: 100}},
	))
	f.Add([]byte{})
	f.Fuzz(fuzzStream[Command])
}

// FuzzMessages decodes the agent-to-runner direction, as the runner reads
// it.
func FuzzMessages(f *testing.F) {
	f.Add(seedStream(f,
		Message{Ready: &Ready{Addr: "10.0.0.2:8080", Pid: 42}},
		Message{ID: 1, Samples: []results.Sample{{Seq: 1, Intended: 1e18, Latency: time.Millisecond, Code: 200, BytesIn: 1024}, {Seq: 2, Error: "timeout"}}},
		Message{ID: 1, Done: &Done{Tag: "measure", Requests: 2, Began: 1, Ended: 2}},
		Message{ID: 2, Stats: map[string]uint64{"requests": 7}},
		Message{ID: 3, Result: []byte("null")},
		Message{ID: 4, Err: "unknown method"},
	))
	f.Fuzz(fuzzStream[Message])
}
