package scenarios

import (
	"os"
	"strings"
	"testing"
)

// TestDocExample keeps the example in doc.go a valid scenario that spells
// out the defaults.
func TestDocExample(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(src), "//\tapiVersion:")
	if i < 0 {
		t.Fatal("doc.go has no example starting with apiVersion")
	}
	var b strings.Builder
	for line := range strings.Lines(string(src[i:])) {
		yamlLine, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			break
		}
		b.WriteString(yamlLine)
	}
	s, err := Load(strings.NewReader(b.String()), "doc.go example")
	if err != nil {
		t.Fatalf("Load: %v\n%s", err, b.String())
	}
	SetDefaults(s, testDatapaths)
	if err := Validate(s, testDatapaths); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := defaulted()
	want.Metadata = s.Metadata
	want.Gate = s.Gate
	// Like gate, search is absent by default: the example shows its
	// fields with their defaults.
	if got := s.Load.Search; got == nil || *got != (Search{From: DefaultSearchFrom, To: DefaultSearchTo, Factor: DefaultSearchFactor, Bisect: DefaultSearchBisect,
		MaxP99: DefaultSearchMaxP99, MaxErrors: DefaultSearchMaxErrors, MinAchieved: DefaultSearchMinAchieved}) {
		t.Errorf("the example's search = %+v, want every field at its default", got)
	}
	want.Load.Search = s.Load.Search
	want.Enrol = s.Enrol // absent by default too
	// Off by default: the example shows what a section looks like.
	want.Topology.Unmeshed = s.Topology.Unmeshed
	want.DatapathOptions[nodeProxy] = DatapathOptions{Mode: ModeL4, Proxy: ProxyOn}
	if got, want := Hash(s, testDatapaths), Hash(want, testDatapaths); got != want {
		t.Errorf("the example's values are not the defaults: hash %s, want %s", got, want)
	}
}
