package results

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSamplesPath(t *testing.T) {
	tests := []struct {
		caseID string
		rep    int
		want   string
	}{
		{"none/cross-node/svc=1/rate=1000/conns=8/req=0/resp=1024", 1, "samples/none_cross-node_svc=1_rate=1000_conns=8_req=0_resp=1024-rep1.csv.gz"},
		{"../../etc/passwd", 2, "samples/.._.._etc_passwd-rep2.csv.gz"},
		{"sidecar l7 mtls:on", 0, "samples/sidecar-l7-mtls-on-rep0.csv.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.caseID, func(t *testing.T) {
			if got := SamplesPath(tt.caseID, tt.rep); got != tt.want {
				t.Errorf("SamplesPath(%q, %d) = %q, want %q", tt.caseID, tt.rep, got, tt.want)
			}
		})
	}
}

func TestSamplesRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		samples []Sample
	}{
		{"empty", nil},
		{"mixed", []Sample{
			{Seq: 0, Intended: 1_700_000_000_000_000_000, Latency: 812 * time.Microsecond, Service: 640 * time.Microsecond, Code: 200, BytesIn: 1024, Connect: 95 * time.Microsecond},
			{Seq: 1, Intended: 1_700_000_000_001_000_000, Latency: 3 * time.Second, Service: time.Second, Code: 503, BytesIn: 0},
			{Seq: 2, Intended: 1_700_000_000_002_000_000, Error: `Get "http://10.96.0.1:80/": dial tcp 10.96.0.1:80: connect: connection refused, again`},
			{Seq: 3, Intended: 1_700_000_000_003_000_000, Error: "line one\nline two"},
			{Seq: 1<<64 - 1, Intended: -1, Latency: -1, Code: 65535, BytesIn: 1<<32 - 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rel, err := WriteSamples(dir, "none/same-node", 1, tt.samples)
			if err != nil {
				t.Fatalf("WriteSamples: %v", err)
			}
			if want := SamplesPath("none/same-node", 1); rel != want {
				t.Errorf("WriteSamples returned %q, want %q", rel, want)
			}
			got, err := ReadSamples(filepath.Join(dir, rel))
			if err != nil {
				t.Fatalf("ReadSamples: %v", err)
			}
			if !slices.Equal(got, tt.samples) {
				t.Errorf("read back %+v, want %+v", got, tt.samples)
			}
			assertOnlyFiles(t, filepath.Join(dir, "samples"), filepath.Base(rel))
		})
	}
}

func TestReadSamplesRefuses(t *testing.T) {
	tests := []struct {
		name, content, wantErr string
	}{
		{"foreign header", "a,b,c,d,e,f,g\n", "header"},
		{"bad number", strings.Join(samplesHeader, ",") + "\n1,2,x,4,200,5,,0\n", "line 2: latency_ns"},
		{"code out of range", strings.Join(samplesHeader, ",") + "\n1,2,3,4,70000,5,,0\n", "line 2: code"},
		{"bad connect time", strings.Join(samplesHeader, ",") + "\n1,2,3,4,200,5,,y\n", "line 2: connect_ns"},
		{"short record", strings.Join(samplesHeader, ",") + "\n1,2,3\n", "wrong number of fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.csv.gz")
			writeGzip(t, path, tt.content)
			_, err := ReadSamples(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("ReadSamples error = %v, want one naming %s and %q", err, path, tt.wantErr)
			}
		})
	}
	t.Run("before connect_ns", func(t *testing.T) {
		// A file written before connect_ns existed reads with Connect 0.
		path := filepath.Join(t.TempDir(), "s.csv.gz")
		writeGzip(t, path, strings.Join(samplesHeaderNoConnect, ",")+"\n1,2,3,4,200,5,\n")
		got, err := ReadSamples(path)
		want := []Sample{{Seq: 1, Intended: 2, Latency: 3, Service: 4, Code: 200, BytesIn: 5}}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ReadSamples = %+v, %v; want %+v", got, err, want)
		}
	})
	t.Run("not gzip", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "s.csv.gz")
		if err := os.WriteFile(path, []byte("seq,intended\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadSamples(path); err == nil {
			t.Errorf("ReadSamples of plain text succeeded, want an error")
		}
	})
}

func writeGzip(tb testing.TB, path, content string) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	if _, err := zw.Write([]byte(content)); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
}

// assertOnlyFiles fails tb unless dir holds exactly the named entries: no
// temporary files were left behind.
func assertOnlyFiles(tb testing.TB, dir string, names ...string) {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(names)
	if !slices.Equal(got, names) {
		tb.Errorf("%s holds %q, want exactly %q", dir, got, names)
	}
}

func TestSampleEncoderDecoder(t *testing.T) {
	in := []Sample{
		{Seq: 0, Intended: 1_700_000_000_000_000_000, Latency: 812 * time.Microsecond, Service: 640 * time.Microsecond, Code: 200, BytesIn: 1024},
		{Seq: 1, Intended: 1_700_000_000_001_000_000, Error: "a, \"quoted\"\nerror"},
	}
	var buf bytes.Buffer
	enc := NewSampleEncoder(&buf)
	for i := range in {
		if err := enc.Encode(&in[i]); err != nil {
			t.Fatalf("Encode: %v", err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if first, _, _ := strings.Cut(buf.String(), "\n"); first != strings.Join(samplesHeader, ",") {
		t.Errorf("first line %q, want the header", first)
	}
	dec := NewSampleDecoder(&buf)
	var got []Sample
	for {
		var s Sample
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		got = append(got, s)
	}
	if !slices.Equal(got, in) {
		t.Errorf("decoded %+v, want %+v", got, in)
	}

	t.Run("no samples", func(t *testing.T) {
		var buf bytes.Buffer
		if err := NewSampleEncoder(&buf).Flush(); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if want := strings.Join(samplesHeader, ",") + "\n"; buf.String() != want {
			t.Errorf("encoded %q, want only the header %q", buf.String(), want)
		}
		if err := NewSampleDecoder(&buf).Decode(new(Sample)); !errors.Is(err, io.EOF) {
			t.Errorf("Decode = %v, want io.EOF", err)
		}
	})
}

// FuzzSampleDecoder feeds arbitrary samples files to the decoder: it must
// end in io.EOF or an error, never a panic, with at most one sample per
// line read; what it decoded, encoded again, decodes to the same samples.
func FuzzSampleDecoder(f *testing.F) {
	var buf bytes.Buffer
	enc := NewSampleEncoder(&buf)
	for _, s := range []Sample{
		{Seq: 0, Intended: 1_700_000_000_000_000_000, Latency: 1500 * time.Microsecond, Service: time.Millisecond, Code: 200, BytesIn: 1024},
		{Seq: 1, Intended: 1_700_000_000_001_000_000, Latency: time.Second, Error: `dial tcp 10.0.0.1:80: "refused", again`},
	} {
		if err := enc.Encode(&s); err != nil {
			f.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(strings.Join(samplesHeader, ",") + "\n"))
	f.Add([]byte(strings.Join(samplesHeader, ",") + "\n1,2,3,4,99999,5,\n"))
	f.Add([]byte("seq,intended\n1,2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := NewSampleDecoder(bytes.NewReader(data))
		var got []Sample
		for {
			var s Sample
			err := dec.Decode(&s)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return
			}
			got = append(got, s)
			if lines := bytes.Count(data, []byte("\n")) + 1; len(got) > lines {
				t.Fatalf("decoded %d samples from %d lines", len(got), lines)
			}
		}
		var out bytes.Buffer
		enc := NewSampleEncoder(&out)
		for i := range got {
			if err := enc.Encode(&got[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.Flush(); err != nil {
			t.Fatal(err)
		}
		dec = NewSampleDecoder(&out)
		var again []Sample
		for {
			var s Sample
			err := dec.Decode(&s)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("decode what the encoder wrote: %v\n%q", err, out.String())
			}
			again = append(again, s)
		}
		if !slices.Equal(again, got) {
			t.Errorf("samples changed in a round trip:\n%+v\nthen\n%+v", got, again)
		}
	})
}
