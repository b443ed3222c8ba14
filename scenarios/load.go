package scenarios

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds what Load reads: a scenario is a page of YAML, and the
// bound stops a wrong file (a log, an image) from being read whole and keeps
// the decoder's duplicate-key check, quadratic in a mapping's size, fast.
const maxFileSize = 64 << 10

// LoadFile reads the scenario file at path; see Load.
func LoadFile(path string) (*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open scenario: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, &FieldError{File: path, Msg: "is a directory, not a scenario file; give the path of a scenario file, or a built-in name"}
	}
	return Load(f, path)
}

// Load decodes one scenario from r strictly: the file must be one YAML
// document with apiVersion meshbench/v1alpha1 and kind Scenario, and unknown
// fields are errors. filename only labels errors ("quick.yaml:12: ...") and,
// when metadata.name is empty, names the scenario after the file.
//
// Load neither defaults nor validates; Resolve does all three. Mistakes in the
// file are returned as *FieldError values, joined, all wrapping ErrInvalid.
func Load(r io.Reader, filename string) (*Spec, error) {
	s, err := load(r, filename)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// load is Load, but when the only mistakes are fields the decoder could not
// take (unknown, or of the wrong type), it returns the rest of the Spec,
// decoded, beside them.
func load(r io.Reader, filename string) (*Spec, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read scenario %s: %w", filename, err)
	}
	if len(data) > maxFileSize {
		return nil, &FieldError{File: filename, Msg: "the file is larger than 64 KiB, which no scenario needs; check that this is the right file"}
	}
	root, err := parse(filename, data)
	if err != nil {
		return nil, err
	}
	src := newSource(filename, root)
	if err := checkHeader(src); err != nil {
		return nil, err
	}
	if len(src.dups) > 0 {
		return nil, duplicateError(src)
	}
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var derr error
	if err := dec.Decode(&s); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, decodeError(src, err)
		}
		derr = decodeError(src, te)
	}
	s.src = src
	if s.Metadata.Name == "" && filename != "" {
		base := filepath.Base(filename)
		s.Metadata.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	return &s, derr
}

// parse returns the root mapping of the only document in data.
func parse(filename string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	empty := &FieldError{File: filename, Msg: "the file is empty; a scenario starts with apiVersion: " + APIVersion + " and kind: " + Kind}
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, empty
		}
		return nil, syntaxError(filename, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &FieldError{File: filename, Line: next.Line, Msg: "the file holds more than one YAML document; keep one scenario per file"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(filename, err)
	}
	root := doc.Content[0]
	if root.ShortTag() == "!!null" {
		return nil, empty
	}
	if root.Kind != yaml.MappingNode {
		return nil, &FieldError{File: filename, Line: root.Line, Msg: fmt.Sprintf("the file holds %s, not a mapping of fields; start it with apiVersion: %s and kind: %s", describe(root), APIVersion, Kind)}
	}
	return root, nil
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// malformed starts the message of a YAML syntax error.
const malformed = "malformed YAML: "

// syntaxError turns a YAML parser error into a FieldError with its line.
func syntaxError(filename string, err error) error {
	e := &FieldError{File: filename, Msg: malformed + strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = malformed + m[2] + "; check the indentation and quoting from this line on"
	}
	return e
}

// problemsIn returns every problem Resolve finds in data: those Load
// reports and, when those are only fields the decoder could not take, what
// Validate finds in the fields that decoded; a syntax error is reported
// with the problems of the lines before it, and says that the lines from it
// on were not checked.
func problemsIn(data []byte, filename string, known Datapaths) error {
	s, err := load(bytes.NewReader(data), filename)
	if s == nil {
		return checkBefore(err, data, filename, known)
	}
	return withValidation(s, err, filename, known)
}

// withValidation adds to err, the fields of s the decoder could not take,
// what Validate finds in the rest, apart from the lines already blamed.
func withValidation(s *Spec, err error, filename string, known Datapaths) error {
	SetDefaults(s, known)
	verr := Validate(s, known)
	if err == nil {
		return verr
	}
	all := Problems(err)
	if len(all) > maxProblems {
		// A screenful already, ending in a count of the rest.
		return err
	}
	blamed := map[int]bool{}
	for _, fe := range all {
		blamed[fe.Line] = true
	}
	for _, fe := range Problems(verr) {
		if fe.Line > 0 && !blamed[fe.Line] {
			all = append(all, fe)
		}
	}
	slices.SortStableFunc(all, func(a, b *FieldError) int {
		// Whole-file notes ("3 more problems") stay last.
		return cmp.Compare(cmp.Or(a.Line, math.MaxInt), cmp.Or(b.Line, math.MaxInt))
	})
	return joinProblems(filename, all[:min(len(all), maxProblems)], len(all))
}

// checkBefore adds to err, when it is a syntax error on line n of data,
// the problems that the lines before n hold, so that one round of editing
// fixes them all, and says that the lines from n on were not checked.
func checkBefore(err error, data []byte, filename string, known Datapaths) error {
	var syn *FieldError
	if !errors.As(err, &syn) || !strings.HasPrefix(syn.Msg, malformed) || syn.Line < 2 {
		return err
	}
	var prefix []byte
	n := 0
	for line := range bytes.Lines(data) {
		if n++; n >= syn.Line {
			break
		}
		prefix = append(prefix, line...)
	}
	var errs []error
	// Lines cut off mid-construct may not parse either; then nothing
	// before the error can be said.
	if s, perr := load(bytes.NewReader(prefix), filename); s != nil {
		for _, fe := range Problems(withValidation(s, perr, filename, known)) {
			if fe.Line > 0 && fe.Line < syn.Line {
				errs = append(errs, fe)
			}
		}
	}
	return errors.Join(append(errs, err, &FieldError{File: filename, Msg: fmt.Sprintf(
		"lines %d on were not checked; fix the malformed YAML and check the file again", syn.Line)})...)
}

// checkHeader rejects files of another format or version before decoding,
// so that a future version's fields are not reported as unknown.
func checkHeader(src *source) error {
	p := problems{src: src}
	for _, h := range []struct{ field, want string }{{"apiVersion", APIVersion}, {"kind", Kind}} {
		l, ok := src.byField[h.field]
		switch {
		case !ok:
			p.add(h.field, "is missing; write %s: %s at the top of the file", h.field, h.want)
		case l.node.Kind != yaml.ScalarNode || l.node.Value != h.want:
			p.add(h.field, "%s is not supported; this meshbench reads %s: %s", describe(l.node), h.field, h.want)
		}
	}
	return p.err()
}

// duplicateError reports every mapping key written twice.
func duplicateError(src *source) error {
	errs := make([]*FieldError, 0, len(src.dups))
	for _, d := range src.dups {
		errs = append(errs, &FieldError{File: src.file, Line: d.line, Field: d.field, Msg: fmt.Sprintf("written twice (first on line %d); keep one", d.first)})
	}
	return joinProblems(src.file, errs[:min(len(errs), maxProblems)], len(errs))
}

var (
	typeErrorLine = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownField  = regexp.MustCompile(`^field (.*) not found in type (\S+)$`)
	badType       = regexp.MustCompile("^cannot unmarshal (\\S+)(?: `(.*)`)? into (.+)$")
)

// decodeError rewrites the decoder's messages, which name Go types, into
// messages that name the scenario's fields.
func decodeError(src *source, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return syntaxError(src.file, err)
	}
	// Rewriting searches the file, so rewrite only what will be shown.
	shown := te.Errors[:min(len(te.Errors), maxProblems)]
	errs := make([]*FieldError, 0, len(shown))
	for _, msg := range shown {
		errs = append(errs, rewrite(src, msg))
	}
	return joinProblems(src.file, errs, len(te.Errors))
}

func rewrite(src *source, msg string) *FieldError {
	e := &FieldError{File: src.file, Msg: msg}
	m := typeErrorLine.FindStringSubmatch(msg)
	if m == nil {
		return e
	}
	e.Line, _ = strconv.Atoi(m[1])
	e.Msg = m[2]
	if m := unknownField.FindStringSubmatch(e.Msg); m != nil {
		e.Field = src.keyAt(e.Line, m[1])
		e.Msg = unknownFieldHint(m[1], m[2])
	} else if m := badType.FindStringSubmatch(e.Msg); m != nil {
		l := src.valueAt(e.Line, m[1], m[2])
		e.Field = l.field
		e.Msg = typeHint(l.node, m[3])
	}
	return e
}

// keyAt is the field path of the mapping key name written on line.
func (s *source) keyAt(line int, name string) string {
	for _, l := range s.nodes {
		if l.line == line && (l.field == name || strings.HasSuffix(l.field, "."+name)) {
			return l.field
		}
	}
	return name
}

// valueAt finds the value the decoder complained about: written on line, with
// the given tag and (possibly truncated to "abcdefg...") value.
func (s *source) valueAt(line int, tag, value string) located {
	var first *located
	prefix, truncated := strings.CutSuffix(value, "...")
	for i := range s.nodes {
		l := &s.nodes[i]
		if l.node.Line != line {
			continue
		}
		if first == nil {
			first = l
		}
		v := l.node.Value
		if l.node.ShortTag() == tag && (v == value || truncated && strings.HasPrefix(v, prefix)) {
			return *l
		}
	}
	if first != nil {
		return *first
	}
	return located{line: line, node: &yaml.Node{}}
}

// describe names what a node holds, for messages: a quoted scalar, "a list"
// or "a mapping".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.ShortTag() == "!!null" {
		return "an empty value"
	}
	return strconv.Quote(n.Value)
}

// typeHint says what was written, what was wanted and how to write it.
func typeHint(n *yaml.Node, goType string) string {
	want, advice := "a value of Go type "+goType, "see the scenario format in the scenarios package documentation"
	switch {
	case goType == "int":
		want, advice = "a whole number", "write a number such as 3"
	case goType == "float64":
		want, advice = "a number", "write a number such as 1000"
	case goType == "string":
		want, advice = "text", "write a single value, quoted if it holds special characters"
	case goType == "bool":
		want, advice = "true or false", "write true or false"
	case goType == "scenarios.Duration":
		want, advice = "a duration", "write it with a unit, such as 10s or 500ms"
	case strings.HasPrefix(goType, "[]"):
		example := "..."
		if n.Kind == yaml.ScalarNode {
			example = n.Value
		}
		want, advice = "a list", "write a list such as ["+example+"]"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "scenarios."):
		want, advice = "a mapping", "write its fields indented below it"
	}
	return fmt.Sprintf("%s is not %s; %s", describe(n), want, advice)
}

// UnmarshalYAML reads a duration written with a unit, such as "10s"; a bare
// 0 is allowed too.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if v, err := time.ParseDuration(n.Value); err == nil {
			*d = Duration(v)
			return nil
		}
	}
	value := ""
	if n.Kind == yaml.ScalarNode {
		value = " `" + n.Value + "`"
	}
	// In the decoder's own format, so that Load locates it like its other
	// type errors.
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s%s into scenarios.Duration", n.Line, n.ShortTag(), value)}}
}

// String formats the duration as time.Duration does ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes the duration as time.Duration.String does ("1m30s").
func (d Duration) MarshalYAML() (any, error) {
	return d.String(), nil
}
