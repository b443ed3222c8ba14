package steer

import "testing"

// FuzzParseRule feeds the rule and reject parsers of the steer role's flags
// arbitrary text: they must not panic, and what they accept must render
// back to a form they read as the same rule.
func FuzzParseRule(f *testing.F) {
	f.Add("prerouting,src=10.244.1.0/24,dst=10.96.0.0/16,to=15001")
	f.Add("output,dport=80,to=15006")
	f.Add("dst=10.244.0.0/24,dport=8080")
	f.Add("output,to=0")
	f.Add(",,=,")
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := ParseRule(s); err == nil {
			back, err := ParseRule(r.String())
			if err != nil || back != r {
				t.Errorf("rule %q parsed as %+v, rendered %q, read back as %+v (%v)", s, r, r.String(), back, err)
			}
		}
		if r, err := ParseReject(s); err == nil {
			back, err := ParseReject(r.String())
			if err != nil || back != r {
				t.Errorf("reject %q parsed as %+v, rendered %q, read back as %+v (%v)", s, r, r.String(), back, err)
			}
		}
	})
}
