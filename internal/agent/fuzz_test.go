package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/meshbench/meshbench/internal/wire"
)

// FuzzFilesLine feeds arbitrary stdin to the files-line reader: it accepts
// only one JSON line of absolute paths within maxFilesLine, leaves the
// rest of stdin as it was sent, and what it accepts, sent again by
// WriteFiles, reads back the same.
func FuzzFilesLine(f *testing.F) {
	var seed bytes.Buffer
	if err := WriteFiles(&seed, map[string][]byte{"/run/meshbench/x/key.pem": []byte("secret\n"), "/etc/mb.yaml": nil}); err != nil {
		f.Fatal(err)
	}
	seed.WriteString("\x0e\xff\x81\x03\x01rest of stdin")
	f.Add(seed.Bytes())
	f.Add([]byte(`{"key.pem":"c2VjcmV0"}` + "\n"))
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"/a":"not base64"}` + "\n"))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		files, rest, err := readFilesLine(bytes.NewReader(data))
		if err != nil {
			if !strings.Contains(err.Error(), "stdin") {
				t.Fatalf("error %q does not say it is about the files on stdin", err)
			}
			return
		}
		end := bytes.IndexByte(data, '\n')
		if end < 0 || end >= maxFilesLine {
			t.Fatalf("accepted a files line %d bytes long (newline at %d), bound %d", len(data), end, maxFilesLine)
		}
		got, err := io.ReadAll(rest)
		if err != nil || !bytes.Equal(got, data[end+1:]) {
			t.Fatalf("rest of stdin = %q, %v; want %q", got, err, data[end+1:])
		}
		var again bytes.Buffer
		if err := WriteFiles(&again, files); err != nil {
			t.Fatal(err)
		}
		back, _, err := readFilesLine(&again)
		if err != nil || !reflect.DeepEqual(back, files) {
			t.Errorf("files changed in a round trip: %v, then %v (%v)", files, back, err)
		}
	})
}

// FuzzHandle feeds arbitrary JSON arguments to a Handler: a bad argument
// is an error naming the method, and the handler never runs on it; a good
// one reaches the handler, and encoded again reaches it the same.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{`{"A":1,"B":2}`, `{}`, `null`, `[1,2]`, `{"A":"x"}`, `{"A":1e400}`, ``} {
		f.Add([]byte(s))
	}
	var got []sumArgs
	h := Handle(sumMethod, func(_ context.Context, in sumArgs) (int, error) {
		got = append(got, in)
		return in.A + in.B, nil
	})
	f.Fuzz(func(t *testing.T, args []byte) {
		got = got[:0]
		v, err := h.fn(t.Context(), args)
		if err != nil {
			if len(got) != 0 || !strings.Contains(err.Error(), "decode arguments of sum") {
				t.Fatalf("bad arguments %q: error %v after %d handler calls", args, err, len(got))
			}
			return
		}
		if len(got) != 1 || v != got[0].A+got[0].B {
			t.Fatalf("handler calls %v, result %v", got, v)
		}
		again, err := json.Marshal(got[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.fn(t.Context(), again); err != nil || len(got) != 2 || got[1] != got[0] {
			t.Errorf("arguments changed in a round trip: %v (%v)", got, err)
		}
	})
}

// FuzzServe feeds an arbitrary command stream to Serve: it must return,
// without a panic, and answer in a well-formed stream: Ready first, then
// one result or error per call command.
func FuzzServe(f *testing.F) {
	for _, cmds := range [][]wire.Command{
		{{ID: 1, Call: &wire.Call{Method: "sum", Args: []byte(`{"A":1,"B":2}`)}}},
		{{ID: 1, Call: &wire.Call{Method: "fail"}}, {ID: 2, Stats: true}, {ID: 3, Call: &wire.Call{Method: "nope"}}},
		{{ID: 7, Attack: &wire.Attack{Tag: "measure", Rate: 10}}},
	} {
		var buf bytes.Buffer
		enc := wire.NewEncoder(&buf)
		for _, c := range cmds {
			if err := enc.Encode(c); err != nil {
				f.Fatal(err)
			}
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		served := serveRole(t.Context(), nil, bytes.NewReader(data), &out, io.Discard)
		dec := wire.NewDecoder(&out)
		for i := 0; ; i++ {
			var m wire.Message
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				if i == 0 {
					t.Fatal("Serve sent nothing, not even Ready")
				}
				return
			}
			if err != nil {
				t.Fatalf("Serve's message %d does not decode: %v (Serve returned %v)", i, err, served)
			}
			if (i == 0) != (m.Ready != nil) || i > 0 && (m.Result == nil) == (m.Err == "") {
				t.Fatalf("Serve's message %d is %+v", i, m)
			}
		}
	})
}

// A files line longer than maxFilesLine is refused after reading no more
// than the bound, however much stdin holds.
func TestFilesLineBound(t *testing.T) {
	long := &countingReader{r: io.MultiReader(strings.NewReader(`{"/a":"`), neverEnding('A'))}
	if _, _, err := readFilesLine(long); err == nil {
		t.Fatal("readFilesLine accepted an endless line")
	}
	if long.n > maxFilesLine {
		t.Errorf("read %d bytes of an endless line, bound %d", long.n, maxFilesLine)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// FuzzReadResponse feeds arbitrary bytes to the lean HTTP/1.1 client's
// response parser: it never reads a body longer than what it was given,
// and where both it and net/http read a response, they agree on its status
// and its body's length (net/http does not skip 1xx responses, so those
// are not compared).
func FuzzReadResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 503\nConnection: close\nContent-Length: 0\n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := readResponse(bufio.NewReaderSize(bytes.NewReader(data), leanReadBuffer))
		if err != nil {
			return
		}
		if got.bodyBytes < 0 || got.bodyBytes > int64(len(data)) || got.code < 200 || got.code > 999 {
			t.Fatalf("readResponse(%q) = %+v: a body or status that is not in the input", data, got)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), nil)
		if err != nil || resp.StatusCode < 200 {
			return
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			return
		}
		if resp.StatusCode != got.code || n != got.bodyBytes {
			t.Errorf("readResponse(%q) = %+v; net/http reads status %d and %d body bytes", data, got, resp.StatusCode, n)
		}
	})
}
