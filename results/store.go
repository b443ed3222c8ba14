package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ResultFile is the name of the run record inside a run directory.
const ResultFile = "result.json"

// ErrBadResult is wrapped by Read when a file is not a usable meshbench
// result: truncated, corrupt, foreign JSON, or another schema version.
var ErrBadResult = errors.New("not a usable meshbench result")

// NewRunDir creates and returns a new run directory <base>/<timestamp>-<id>,
// the timestamp in UTC so that directories sort by start time.
func NewRunDir(base, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("create run directory: empty run id")
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("create run directory: %w", err)
	}
	dir := filepath.Join(base, time.Now().UTC().Format("20060102T150405Z")+"-"+sanitize(id))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("create run directory: %w", err)
	}
	return dir, nil
}

// Write writes run as dir/result.json, stamped with SchemaVersion. The file
// is replaced atomically: readers see the old or the new record, never half
// of one, even if the process dies mid-write.
func Write(dir string, run *Run) error {
	r := *run
	r.SchemaVersion = SchemaVersion
	data, err := json.MarshalIndent(&r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	data = append(data, '\n')
	path := filepath.Join(dir, ResultFile)
	err = writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("write result %s: %w", path, err)
	}
	return nil
}

// writeAtomic writes path through write into a temporary file in the same
// directory, syncs it and renames it over path, then syncs the directory so
// the rename survives a crash. The temporary file never outlives a failure.
func writeAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Read loads a run record from path, a run directory or a result file. It
// returns an error wrapping ErrBadResult, naming the file and what is wrong,
// when the file is truncated or corrupt, is JSON but not a meshbench result,
// or has a schema version outside MinSchemaVersion to SchemaVersion. Fields unknown to this
// version are ignored, so that additions stay readable.
func Read(path string) (*Run, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, ResultFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	run, what := decodeRun(data)
	if what != "" {
		return nil, fmt.Errorf("read result %s: %w: %s", path, ErrBadResult, what)
	}
	return run, nil
}

// decodeRun decodes a result file, or says what is wrong with it.
func decodeRun(data []byte) (*Run, string) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, "the file is empty"
	}
	var head map[string]json.RawMessage
	if err := json.Unmarshal(data, &head); err != nil {
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntax) && syntax.Error() == "unexpected end of JSON input":
			return nil, "truncated JSON (the file ends mid-record)"
		case errors.As(err, &syntax):
			return nil, fmt.Sprintf("corrupt JSON at byte %d: %v", syntax.Offset, err)
		case errors.As(err, &typ):
			return nil, fmt.Sprintf("JSON %s where a result object was expected", typ.Value)
		}
		return nil, fmt.Sprintf("invalid JSON: %v", err)
	}
	rawVersion, ok := head["schema_version"]
	if !ok {
		return nil, "foreign JSON: no schema_version field, so not written by meshbench"
	}
	var version int
	if err := json.Unmarshal(rawVersion, &version); err != nil {
		return nil, fmt.Sprintf("schema_version %s is not an integer", rawVersion)
	}
	if version < MinSchemaVersion || version > SchemaVersion {
		return nil, fmt.Sprintf("schema version %d, but this meshbench reads versions %d to %d: use the meshbench release that wrote it", version, MinSchemaVersion, SchemaVersion)
	}
	if _, ok := head["cases"]; !ok {
		return nil, "no cases field, so not a meshbench run record"
	}
	var run Run
	if err := json.Unmarshal(data, &run); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return nil, fmt.Sprintf("field %s: JSON %s where %s was expected", typ.Field, typ.Value, typ.Type)
		}
		return nil, fmt.Sprintf("decode: %v", err)
	}
	if run.Cases == nil {
		return nil, "cases is null, so not a meshbench run record"
	}
	return &run, ""
}
