package scenarios

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// catalog holds the built-in scenarios, one file per scenario named after it.
//
//go:embed catalog/*.yaml
var catalog embed.FS

// builtinNames lists the built-in scenarios, sorted.
func builtinNames() []string {
	entries, err := fs.ReadDir(catalog, "catalog")
	if err != nil {
		panic("scenarios: read embedded catalog: " + err.Error())
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}

// Catalog describes the built-in scenarios, sorted by name.
func Catalog() []Metadata {
	var out []Metadata
	for _, name := range builtinNames() {
		s, err := Builtin(name)
		if err != nil {
			// The catalogue is compiled in and tested; a broken entry is a bug.
			panic("scenarios: built-in scenario " + name + ": " + err.Error())
		}
		out = append(out, s.Metadata)
	}
	return out
}

// Builtin loads the built-in scenario name as Load would, without defaults or
// validation. An unknown name gives an error wrapping ErrInvalid.
func Builtin(name string) (*Spec, error) {
	if !slices.Contains(builtinNames(), name) {
		return nil, &FieldError{File: name, Msg: "no built-in scenario has this name; built-ins are " + strings.Join(builtinNames(), ", ")}
	}
	file := "catalog/" + name + ".yaml"
	data, err := catalog.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read built-in scenario %s: %w", name, err)
	}
	return Load(bytes.NewReader(data), file)
}

// Resolve finds a scenario the way the command line names one: a built-in
// name, or else the path of a scenario file. It applies defaults and
// validates against the known datapaths. An unknown name that is not a file either, and every mistake in
// the scenario, give errors wrapping ErrInvalid.
func Resolve(nameOrPath string, known Datapaths) (*Spec, error) {
	var s *Spec
	var err error
	if slices.Contains(builtinNames(), nameOrPath) {
		s, err = Builtin(nameOrPath)
	} else {
		s, err = LoadFile(nameOrPath)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &FieldError{File: nameOrPath, Msg: "no such scenario file, and no built-in scenario has this name; give a path to a scenario file or one of the built-ins: " + strings.Join(builtinNames(), ", ")}
		}
		if data, rerr := os.ReadFile(nameOrPath); err != nil && rerr == nil {
			err = problemsIn(data, nameOrPath, known)
		}
	}
	if err != nil {
		return nil, err
	}
	SetDefaults(s, known)
	if err := Validate(s, known); err != nil {
		return nil, err
	}
	return s, nil
}
