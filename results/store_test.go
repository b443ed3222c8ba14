package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testRun returns a small but complete run record.
func testRun(tb testing.TB) *Run {
	tb.Helper()
	rep, err := Summarize(syntheticSamples(tb, 100), Plan{Requests: 100, Duration: 100 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	rep.Index = 1
	rep.Samples = SamplesPath("none/same-node", 1)
	return &Run{
		ID:           "abc123",
		Scenario:     "quick",
		ScenarioHash: "sha256:00",
		Provider:     "netns",
		StartedAt:    time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		FinishedAt:   time.Date(2025, 1, 2, 3, 5, 5, 0, time.UTC),
		Environment:  Environment{Kernel: "6.18.0", CPUs: 2, GoVersion: "go1.26.0"},
		Cases: []Case{{
			ID: "none/same-node", Datapath: "none", Placement: "same-node", Rate: 1000,
			Status: "ok", LatencyUS: rep.LatencyUS, AchievedRPS: rep.AchievedRPS,
			Requests: rep.Requests, Repetitions: []Repetition{rep},
		}},
	}
}

func TestNewRunDir(t *testing.T) {
	base := filepath.Join(t.TempDir(), "runs")
	dir, err := NewRunDir(base, "run/1")
	if err != nil {
		t.Fatalf("NewRunDir: %v", err)
	}
	if filepath.Dir(dir) != base || !strings.HasSuffix(dir, "-run_1") {
		t.Errorf("NewRunDir = %q, want %s/<timestamp>-run_1", dir, base)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("run directory %s not created: %v", dir, err)
	}
	if _, err := NewRunDir(base, ""); err == nil {
		t.Errorf("NewRunDir with an empty id succeeded, want an error")
	}
}

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	want := testRun(t)
	if err := Write(dir, want); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if want.SchemaVersion != 0 {
		t.Errorf("Write changed the caller's run")
	}
	want.SchemaVersion = SchemaVersion
	for _, path := range []string{dir, filepath.Join(dir, ResultFile)} {
		got, err := Read(path)
		if err != nil {
			t.Fatalf("Read(%s): %v", path, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Read(%s) = %+v, want %+v", path, got, want)
		}
	}
	// A second write replaces the first.
	want.Scenario = "seed-mesh"
	if err := Write(dir, want); err != nil {
		t.Fatalf("second Write: %v", err)
	}
	if got, err := Read(dir); err != nil || got.Scenario != "seed-mesh" {
		t.Errorf("after rewrite Read = %v, %v, want scenario seed-mesh", got, err)
	}
	assertOnlyFiles(t, dir, ResultFile)
}

func TestWriteAtomicFailureLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ResultFile)
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := writeAtomic(path, func(w io.Writer) error {
		if _, err := w.Write([]byte("half a rec")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("writeAtomic error = %v, want %v", err, boom)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("after a failed write the file holds %q, want %q", got, "old")
	}
	assertOnlyFiles(t, dir, ResultFile)
}

func TestWriteMissingDir(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "gone"), testRun(t)); err == nil {
		t.Errorf("Write into a missing directory succeeded, want an error")
	}
}

func TestReadRefuses(t *testing.T) {
	valid, err := json.Marshal(testRun(t))
	if err != nil {
		t.Fatal(err)
	}
	versioned := strings.Replace(string(valid), `"schema_version":0`, `"schema_version":1`, 1)
	tests := []struct {
		name, content, wantErr string
	}{
		{"empty", "", "empty"},
		{"truncated", versioned[:len(versioned)/2], "truncated"},
		{"truncated with space", versioned[:len(versioned)/2] + "\n ", "truncated"},
		{"corrupt", `{"schema_version": 1, "cases": [}`, "corrupt JSON"},
		{"trailing garbage", versioned + "}", "corrupt JSON"},
		{"array", `[1, 2, 3]`, "JSON array"},
		{"string", `"result"`, "JSON string"},
		{"foreign object", `{"name": "vegeta", "latencies": {}}`, "no schema_version"},
		{"null version", `{"schema_version": null, "cases": []}`, "schema version 0"},
		{"version is text", `{"schema_version": "1", "cases": []}`, "not an integer"},
		{"newer version", `{"schema_version": 5, "cases": []}`, "schema version 5, but this meshbench reads versions 1 to 4"},
		{"older version", `{"schema_version": 0, "cases": []}`, "schema version 0"},
		{"no cases", `{"schema_version": 1}`, "no cases"},
		{"null cases", `{"schema_version": 1, "cases": null}`, "cases is null"},
		{"wrong type", `{"schema_version": 1, "cases": [{"rate": "fast"}]}`, "field cases.rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ResultFile)
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Read(path)
			if !errors.Is(err, ErrBadResult) {
				t.Fatalf("Read error = %v, want ErrBadResult", err)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tt.wantErr) {
				t.Errorf("Read error = %q, want it to name %s and say %q", msg, path, tt.wantErr)
			}
		})
	}
}

func TestReadAcceptsUnknownFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), ResultFile)
	content := `{"schema_version": 1, "id": "x", "added_later": {"a": 1}, "cases": [{"id": "c", "new_metric": 3}]}`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	run, err := Read(path)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if run.ID != "x" || len(run.Cases) != 1 || run.Cases[0].ID != "c" {
		t.Errorf("Read = %+v, want id x with case c", run)
	}
}

func TestReadMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := Read(dir)
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrBadResult) {
		t.Errorf("Read of a directory without %s = %v, want a not-exist error", ResultFile, err)
	}
}

// FuzzRead feeds arbitrary result files to Read's decoder, as compare,
// gate, report and export get them: a bad file is a sentence saying what is
// wrong, never a panic, and an accepted record, encoded as Write does,
// decodes again unchanged. Seeds: a test record and the committed quick baseline.
func FuzzRead(f *testing.F) {
	valid, err := json.Marshal(testRun(f))
	if err != nil {
		f.Fatal(err)
	}
	baseline, err := os.ReadFile(filepath.Join("baselines", "quick", ResultFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(baseline)
	f.Add([]byte(`{"schema_version": 1, "cases": []}`))
	f.Add([]byte(`{"schema_version": 1, "cases": [{"repetitions": [{"histogram": "x"}]}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// decodeRun is Read past reading the file; Write's fsyncs would
		// slow the fuzzer down a hundredfold.
		run, what := decodeRun(data)
		if what != "" {
			if run != nil {
				t.Fatalf("decodeRun returned a record and the problem %q", what)
			}
			return
		}
		if run == nil || run.SchemaVersion < MinSchemaVersion || run.SchemaVersion > SchemaVersion || run.Cases == nil {
			t.Fatalf("decodeRun accepted %+v", run)
		}
		out, err := json.MarshalIndent(run, "", "  ")
		if err != nil {
			t.Fatalf("encode a record decodeRun accepted: %v", err)
		}
		again, what := decodeRun(out)
		if what != "" {
			t.Fatalf("decode what was encoded: %s\n%s", what, out)
		}
		// Compared as written: a time read with a "+00:00" offset is
		// written back with "Z", equal but of another *time.Location.
		out2, err := json.MarshalIndent(again, "", "  ")
		if err != nil {
			t.Fatalf("encode the record read back: %v", err)
		}
		if !bytes.Equal(out2, out) {
			t.Errorf("the record changed in a round trip:\n%s\nthen\n%s", out, out2)
		}
	})
}

func TestPartialRoundTrip(t *testing.T) {
	dir := t.TempDir()
	run := testRun(t)
	if err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Partial || got.PartialNote() != "" {
		t.Errorf("a record without partial fields reads as partial: %q", got.PartialNote())
	}
	run.Partial, run.Interrupted, run.PlannedCases = true, true, 3
	if err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	if got, err = Read(dir); err != nil {
		t.Fatal(err)
	}
	if want := "partial: 1 of 3 cases (interrupted)"; got.PartialNote() != want {
		t.Errorf("PartialNote() = %q, want %q", got.PartialNote(), want)
	}
}

// TestReadVersion1 reads a record of schema version 1, which lacks
// coverage: version 2 only added fields.
func TestReadVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), ResultFile)
	if err := os.WriteFile(path, []byte(`{"schema_version": 1, "cases": [{"id": "a", "status": "ok"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	run, err := Read(path)
	if err != nil {
		t.Fatalf("Read a version 1 record: %v", err)
	}
	if run.SchemaVersion != 1 || len(run.Cases) != 1 || run.Cases[0].Coverage != nil {
		t.Errorf("read %+v, want version 1 with one case and no coverage", run)
	}
}
