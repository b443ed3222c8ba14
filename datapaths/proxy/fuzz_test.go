package proxy

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeServices feeds the service-table decoder arbitrary bytes,
// seeded with the test tables: it must not panic, and a table it accepts
// must encode and decode back to itself.
func FuzzDecodeServices(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		services, err := decodeServices(data)
		if err != nil {
			return
		}
		enc, err := MarshalServices(services)
		if err != nil {
			t.Fatalf("accepted table %+v does not encode: %v", services, err)
		}
		back, err := decodeServices(enc)
		if err != nil || !reflect.DeepEqual(back, services) {
			t.Errorf("table %+v encoded as %s decodes as %+v (%v)", services, enc, back, err)
		}
	})
}

// FuzzReadConnect feeds the tunnel's CONNECT parser arbitrary requests: it
// must not panic, and what it accepts is an IPv4 address and port.
func FuzzReadConnect(f *testing.F) {
	f.Add("CONNECT 10.244.1.2:8080 HTTP/1.1\r\nHost: 10.244.1.2:8080\r\n\r\n")
	f.Add("CONNECT [::1]:80 HTTP/1.1\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\n\r\n")
	f.Add("CONNECT 10.0.0.1:0 HTTP/1.1\r\nX: \xff\r\n\r\n")
	f.Fuzz(func(t *testing.T, req string) {
		dst, err := readConnect(bufio.NewReader(strings.NewReader(req)))
		if err == nil && (!dst.IsValid() || !dst.Addr().Is4()) {
			t.Errorf("CONNECT %q accepted with target %v, want an IPv4 address and port", req, dst)
		}
	})
}
