package scenarios

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// Reference is the field reference of the scenario format: a scenario file
// that writes out every field with its default, each commented with what it
// means and its bounds. The package documentation shows the same text
// (TestReferenceInDoc keeps the two equal); `meshbench explain` prints it.
//
//go:embed reference.yaml
var Reference string

// Show writes the scenario nameOrPath (as Resolve finds it) as a scenario
// file to start from: the built-in's own comment, then every field written
// out with its value, defaults included, commented as in Reference. Read
// back, it is the same scenario (the same Hash).
func Show(w io.Writer, nameOrPath string, known Datapaths) error {
	s, err := Resolve(nameOrPath, known)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := doc.Encode(s); err != nil {
		return fmt.Errorf("encode scenario %s: %w", nameOrPath, err)
	}
	var ref yaml.Node
	if err := yaml.Unmarshal([]byte(Reference), &ref); err != nil {
		return fmt.Errorf("decode the field reference: %w", err)
	}
	comments := map[string]bool{}
	annotate(&doc, ref.Content[0], comments)

	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s with every field written out, defaults included: save it as a file,\n", nameOrPath)
	fmt.Fprintf(&b, "# edit it and run it with `meshbench run FILE` (`meshbench explain` describes every field).\n")
	if head := headComment(nameOrPath); head != "" {
		b.WriteString("#\n" + head)
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("encode scenario %s: %w", nameOrPath, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode scenario %s: %w", nameOrPath, err)
	}
	_, err = io.WriteString(w, alignComments(b.String(), comments))
	return err
}

// annotate copies the reference's comments onto the same fields of dst and
// writes short lists in flow style ([1, 2]), as the reference does. The
// keys of a mapping whose reference has one example entry (datapathOptions)
// all take that entry's comments. It records every line comment it sets.
func annotate(dst, ref *yaml.Node, comments map[string]bool) {
	switch dst.Kind {
	case yaml.SequenceNode:
		dst.Style = yaml.FlowStyle
		return
	case yaml.MappingNode:
	default:
		return
	}
	if ref == nil || ref.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(dst.Content); i += 2 {
		key, val := dst.Content[i], dst.Content[i+1]
		rk, rv := lookup(ref, key.Value)
		if rk == nil && len(ref.Content) == 2 && ref.Content[1].Kind == yaml.MappingNode {
			rk, rv = ref.Content[0], ref.Content[1]
		}
		if rk == nil {
			continue
		}
		key.HeadComment, key.LineComment = rk.HeadComment, rk.LineComment
		comments[rk.LineComment] = rk.LineComment != ""
		if val.Kind != yaml.MappingNode {
			val.LineComment = rv.LineComment
			comments[rv.LineComment] = rv.LineComment != ""
		}
		annotate(val, rv, comments)
		if val.Kind == yaml.MappingNode && len(val.Content) == 0 {
			// Written {}, which carries the comment on its line.
			val.Style = yaml.FlowStyle
			val.LineComment, key.LineComment = key.LineComment, ""
		}
	}
}

// lookup finds key in the mapping m.
func lookup(m *yaml.Node, key string) (k, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// commentColumn is where Reference starts its line comments.
const commentColumn = 33

// alignComments moves the line comments of text to commentColumn, as the
// reference writes them, so that values and their comments read as columns.
func alignComments(text string, comments map[string]bool) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		body := strings.TrimSuffix(line, "\n")
		for c, ok := range comments {
			if !ok {
				continue
			}
			if v, found := strings.CutSuffix(body, " "+c); found && strings.TrimSpace(v) != "" {
				body = v + strings.Repeat(" ", max(1, commentColumn-len(v))) + c
				break
			}
		}
		b.WriteString(body + "\n")
	}
	return b.String()
}

// headComment is the comment a built-in scenario's file opens with; empty
// for a file.
func headComment(name string) string {
	data, err := catalog.ReadFile("catalog/" + name + ".yaml")
	if err != nil {
		return ""
	}
	var b strings.Builder
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(line, "#") {
			break
		}
		b.WriteString(line)
	}
	return b.String()
}
