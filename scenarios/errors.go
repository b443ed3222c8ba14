package scenarios

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrInvalid is wrapped by every error that reports a mistake in a scenario:
// malformed YAML, unknown fields, failed validation, an unknown built-in name.
// The CLI maps it to exit code 2.
var ErrInvalid = errors.New("invalid scenario")

// FieldError is one problem in a scenario, located by file, line and field
// path (for example "load.rates[0]"). Validate and Load return several of
// them joined with errors.Join, one per line of the error text.
type FieldError struct {
	File  string // file name as given to Load; empty for specs built in code
	Line  int    // 1-based; 0 for specs built in code
	Field string // dotted path with list indexes; empty for the whole file
	Msg   string // one sentence: what is wrong and what to do
}

// Error formats the problem as "file:line: field: message".
func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Problems lists the problems err reports, in order: the FieldErrors it
// joins, or err itself if it is one; nil if it holds none.
func Problems(err error) []*FieldError {
	var out []*FieldError
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		out = append(out, fe)
	}
	return out
}

// problems collects FieldErrors located through a source.
type problems struct {
	src  *source
	errs []*FieldError
}

// add records a problem with field, at the line where field (or, if it was not
// written, its nearest written parent) appears.
func (p *problems) add(field, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{
		File:  p.src.fileName(),
		Line:  p.src.line(field),
		Field: field,
		Msg:   fmt.Sprintf(format, args...),
	})
}

// maxProblems bounds how many problems one error reports: past a screenful
// the rest are usually the same mistake repeated.
const maxProblems = 20

// err joins the problems, ordered by line so they read top to bottom and at
// most maxProblems of them, or returns nil when there are none.
func (p *problems) err() error {
	slices.SortStableFunc(p.errs, func(a, b *FieldError) int {
		return cmp.Compare(a.Line, b.Line)
	})
	return joinProblems(p.src.fileName(), p.errs[:min(len(p.errs), maxProblems)], len(p.errs))
}

// joinProblems joins the problems shown, the first of total, and says how
// many more there were.
func joinProblems(file string, shown []*FieldError, total int) error {
	errs := make([]error, 0, len(shown)+1)
	for _, e := range shown {
		errs = append(errs, e)
	}
	switch more := total - len(shown); {
	case more == 1:
		errs = append(errs, &FieldError{File: file, Msg: "1 more problem not shown; fix the ones above first"})
	case more > 1:
		errs = append(errs, &FieldError{File: file, Msg: fmt.Sprintf("%d more problems not shown; fix the ones above first", more)})
	}
	return errors.Join(errs...)
}
