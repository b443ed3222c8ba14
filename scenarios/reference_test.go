package scenarios

import (
	"flag"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the field reference in doc.go from reference.yaml")

// TestReferenceInDoc keeps the package documentation's field reference the
// text of reference.yaml, which `meshbench explain` prints; -update
// rewrites doc.go.
func TestReferenceInDoc(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	start := strings.Index(doc, "//\tapiVersion:")
	if start < 0 {
		t.Fatal("doc.go has no field reference starting with apiVersion")
	}
	end := start
	for line := range strings.Lines(doc[start:]) {
		if !strings.HasPrefix(line, "//\t") {
			break
		}
		end += len(line)
	}
	var want strings.Builder
	for line := range strings.Lines(Reference) {
		want.WriteString("//\t" + line)
	}
	if doc[start:end] == want.String() {
		return
	}
	if !*update {
		t.Fatalf("doc.go's field reference differs from reference.yaml; run go test ./scenarios -run TestReferenceInDoc -update\ndoc.go:\n%s\nreference.yaml:\n%s", doc[start:end], want.String())
	}
	if err := os.WriteFile("doc.go", []byte(doc[:start]+want.String()+doc[end:]), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestShow checks that every built-in, shown, reads back as the same
// scenario and comments every field.
func TestShow(t *testing.T) {
	for _, m := range Catalog() {
		t.Run(m.Name, func(t *testing.T) {
			var b strings.Builder
			if err := Show(&b, m.Name, testDatapaths); err != nil {
				t.Fatal(err)
			}
			s, err := Load(strings.NewReader(b.String()), m.Name+".yaml")
			if err != nil {
				t.Fatalf("Load: %v\n%s", err, b.String())
			}
			SetDefaults(s, testDatapaths)
			if err := Validate(s, testDatapaths); err != nil {
				t.Fatalf("Validate: %v\n%s", err, b.String())
			}
			orig, err := Resolve(m.Name, testDatapaths)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := Hash(s, testDatapaths), Hash(orig, testDatapaths); got != want {
				t.Errorf("shown scenario hashes to %s, the built-in to %s:\n%s", got, want, b.String())
			}
			var root yaml.Node
			if err := yaml.Unmarshal([]byte(b.String()), &root); err != nil {
				t.Fatal(err)
			}
			for _, field := range uncommented(root.Content[0], "") {
				t.Errorf("field %s has no comment:\n%s", field, b.String())
			}
		})
	}
}

// uncommented lists the fields below n without a comment of their own,
// but for the metrics under gate, which the gate key's comment covers.
func uncommented(n *yaml.Node, path string) []string {
	if n.Kind != yaml.MappingNode || path == "gate" {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := strings.TrimPrefix(path+"."+k.Value, ".")
		if k.LineComment == "" && v.LineComment == "" && k.HeadComment == "" {
			out = append(out, field)
		}
		out = append(out, uncommented(v, field)...)
	}
	return out
}
