package report

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshbench/meshbench/results"
	"github.com/meshbench/meshbench/results/resultstest"
)

// FuzzWriteTerminal reports whatever a result file decodes to, as
// `meshbench report` does after results.Read: an error or a table, never a
// panic. (FuzzRead in package results covers the decoder.)
func FuzzWriteTerminal(f *testing.F) {
	seed, err := json.Marshal(resultstest.Run(f, resultstest.Options{}))
	if err != nil {
		f.Fatal(err)
	}
	baseline, err := os.ReadFile(filepath.Join("..", "baselines", "quick", results.ResultFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(baseline)
	f.Add([]byte(`{"schema_version":1,"partial":true,"planned_cases":-1,"cases":[{"id":"x","status":"ok","path":{"trace":[{}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var run results.Run
		if json.Unmarshal(data, &run) != nil || run.Cases == nil {
			return
		}
		_ = WriteTerminal(io.Discard, &run)
	})
}
