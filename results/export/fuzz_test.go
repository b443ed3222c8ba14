package export

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshbench/meshbench/results"
)

// FuzzWrite exports whatever a result file decodes to, in every format, as
// `meshbench export` does after results.Read: an error or output, never a
// panic. (FuzzRead in package results covers the decoder.)
func FuzzWrite(f *testing.F) {
	seed, err := json.Marshal(testRun(f))
	if err != nil {
		f.Fatal(err)
	}
	baseline, err := os.ReadFile(filepath.Join("..", "baselines", "quick", results.ResultFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(baseline)
	f.Add([]byte(`{"schema_version":1,"cases":[{"id":"x","status":"ok","repetitions":[{}]}]}`))
	f.Add([]byte(`{"schema_version":1,"cases":[{"id":"none/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024","latency_us":{"p50":-1}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var run results.Run
		if json.Unmarshal(data, &run) != nil || run.Cases == nil {
			return
		}
		for _, format := range Formats {
			_ = Write(io.Discard, &run, format, "")
		}
	})
}
