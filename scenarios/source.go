package scenarios

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// source remembers where each field of a decoded file was written, so that
// defaults can tell "absent" from "written as zero" and errors can name a line.
type source struct {
	file    string
	nodes   []located          // document order
	byField map[string]located // last occurrence wins, as in decoding
	dups    []duplicate        // mapping keys written twice
}

// duplicate is a mapping key written again at line after first.
type duplicate struct {
	field       string
	line, first int
}

// located is one YAML node and the field path it decodes into.
type located struct {
	field string
	line  int // line of the mapping key, or of the list item
	node  *yaml.Node
}

// newSource indexes the document rooted at root. Aliases are not followed, so
// a hostile file cannot make the index explode; fields inside an alias are
// located at the alias.
func newSource(file string, root *yaml.Node) *source {
	s := &source{file: file, byField: make(map[string]located)}
	s.walk(root, "", root.Line)
	return s
}

func (s *source) walk(n *yaml.Node, field string, line int) {
	l := located{field: field, line: line, node: n}
	s.nodes = append(s.nodes, l)
	s.byField[field] = l
	switch n.Kind {
	case yaml.MappingNode:
		// The same test as the decoder's, which on a large mapping of
		// repeated keys builds a quadratic number of messages.
		type key struct {
			kind  yaml.Kind
			value string
		}
		seen := make(map[key]int, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			f := joinField(field, k.Value)
			if first, ok := seen[key{k.Kind, k.Value}]; ok {
				s.dups = append(s.dups, duplicate{field: f, line: k.Line, first: first})
			} else {
				seen[key{k.Kind, k.Value}] = k.Line
			}
			s.walk(n.Content[i+1], f, k.Line)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			s.walk(c, field+"["+strconv.Itoa(i)+"]", c.Line)
		}
	}
}

func joinField(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// has reports whether field was written in the file with a non-null value.
// It is false for specs built in code.
func (s *source) has(field string) bool {
	if s == nil {
		return false
	}
	l, ok := s.byField[field]
	return ok && l.node.ShortTag() != "!!null"
}

// line is the line where field was written or, when it was not, where its
// nearest written parent was; 0 for specs built in code.
func (s *source) line(field string) int {
	if s == nil {
		return 0
	}
	for {
		if l, ok := s.byField[field]; ok {
			return l.line
		}
		if field == "" {
			return 0
		}
		field = parentField(field)
	}
}

// parentField strips the last ".name" or "[i]" from field.
func parentField(field string) string {
	i := strings.LastIndexAny(field, ".[")
	if i < 0 {
		return ""
	}
	return field[:i]
}

func (s *source) fileName() string {
	if s == nil {
		return ""
	}
	return s.file
}
