package scenarios

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzLoad feeds arbitrary files to Load, then defaults and validates what
// it accepts, as Resolve does (and for what it refuses, checks all of
// Resolve's problems). Every failure must be an error wrapping
// ErrInvalid, never a panic; a valid spec must expand within MaxCases, and
// written back as YAML it must load to the same scenario (same hash and
// cases). Seeds: the catalog and the test fixtures.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"catalog/*.yaml", "testdata/*.yaml"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Load(bytes.NewReader(data), "fuzz.yaml")
		if err != nil {
			if s != nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load = %v, %v: want a nil spec and an error wrapping ErrInvalid", s, err)
			}
			// What Resolve says of the file: more problems, never none.
			if perr := problemsIn(data, "fuzz.yaml", testDatapaths); !errors.Is(perr, ErrInvalid) {
				t.Fatalf("problemsIn = %v for a file Load refuses with %v", perr, err)
			}
			return
		}
		SetDefaults(s, testDatapaths)
		if err := Validate(s, testDatapaths); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate: %v does not wrap ErrInvalid", err)
			}
			return
		}
		cases := Expand(s)
		if len(cases) == 0 || len(cases) > MaxCases {
			t.Fatalf("a valid spec expands to %d cases, want 1 to %d", len(cases), MaxCases)
		}

		out, err := yaml.Marshal(s)
		if err != nil {
			t.Fatalf("marshal a valid spec: %v", err)
		}
		again, err := Load(bytes.NewReader(out), "fuzz.yaml")
		if err != nil {
			t.Fatalf("Load of the marshalled spec: %v\n%s", err, out)
		}
		SetDefaults(again, testDatapaths)
		if err := Validate(again, testDatapaths); err != nil {
			t.Fatalf("Validate of the marshalled spec: %v\n%s", err, out)
		}
		if h1, h2 := Hash(s, testDatapaths), Hash(again, testDatapaths); h1 != h2 {
			t.Errorf("hash changed in a round trip: %s, then %s\n%s", h1, h2, out)
		}
		if got := Expand(again); !reflect.DeepEqual(got, cases) {
			t.Errorf("cases changed in a round trip:\n%+v\nthen\n%+v", cases, got)
		}
	})
}
