package scenarios

import (
	"fmt"
	"reflect"
	"strings"
)

// structTypes are the types a scenario decodes into, by the name the decoder
// uses in its messages ("scenarios.Topology").
var structTypes = func() map[string]reflect.Type {
	m := make(map[string]reflect.Type)
	for _, v := range []any{Spec{}, Metadata{}, Topology{}, Traffic{}, DatapathOptions{}, RunOptions{}, Search{}} {
		t := reflect.TypeOf(v)
		m[t.String()] = t
	}
	return m
}()

// yamlFields lists the field names of a struct as written in YAML.
func yamlFields(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// unknownFieldHint tells what to write instead of the unknown field name
// found in the struct named typeName.
func unknownFieldHint(name, typeName string) string {
	t, ok := structTypes[typeName]
	if !ok {
		return "unknown field; remove it"
	}
	valid := yamlFields(t)
	for _, v := range valid {
		if strings.EqualFold(v, name) || editDistance(v, name) <= 2 {
			return fmt.Sprintf("unknown field; did you mean %s?", v)
		}
	}
	return "unknown field; valid fields here are " + strings.Join(valid, ", ")
}

// editDistance is the Levenshtein distance between a and b, for spelling
// suggestions.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
