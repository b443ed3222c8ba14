package ebpf

import (
	"io"
	"reflect"
	"testing"
)

// FuzzAgentConfig feeds the node agent's -config decoder arbitrary text: it
// must not panic, and a configuration it accepts must render back to
// arguments it reads as the same configuration.
func FuzzAgentConfig(f *testing.F) {
	f.Add(`{"mode":"proxy","nodeIP":"10.0.0.2","nodeProxy":"10.0.0.2:15001","proxyCgroup":"mb/n1/proxy","services":[{"name":"svc-0","vip":"10.96.0.10","port":80,"endpoints":["10.244.1.2:8080"]}],"pods":[{"name":"client-0","ip":"10.244.1.3","netns":"/run/netns/x","cgroup":"mb/n1/client-0","iface":"eth0","strictPort":8080}]}`)
	f.Add(`{"pods":[{"ip":"::1"}]}`)
	f.Add(`{"nodeIP":"300.1.1.1"}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, config string) {
		o, err := parseAgentOptions([]string{"-config", config}, io.Discard)
		if err != nil {
			return
		}
		back, err := parseAgentOptions(o.Args()[2:], io.Discard)
		if err != nil || !reflect.DeepEqual(back, o) {
			t.Errorf("config %q read as %+v, rendered %q, read back as %+v (%v)", config, o, o.Args(), back, err)
		}
	})
}
