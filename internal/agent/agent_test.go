package agent

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/wire"
	"github.com/meshbench/meshbench/results"
)

// proc is a role running in-process, driven over pipes as the runner drives
// a real agent.
type proc struct {
	enc   *wire.Encoder
	msgs  chan wire.Message
	ready wire.Ready
	ids   uint64
}

// testRoles are the workload roles, two that show what Run hands a role
// and one that answers calls (serve_test.go).
var testRoles = Roles{
	ServerRole:   Server,
	LoadRole:     Load,
	"test-calls": serveRole,
	// It echoes its flags.
	"test-args": func(_ context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
		_, err := io.WriteString(stdout, strings.Join(args, " "))
		return err
	},
	// It copies stdin to stdout.
	"test-stdin": func(_ context.Context, _ []string, stdin io.Reader, stdout, _ io.Writer) error {
		_, err := io.Copy(stdout, stdin)
		return err
	},
}

// start runs the agent command line argv ("agent", role, flags) in-process
// until the test ends, waits for Ready, and checks at cleanup that the
// role exits cleanly once its stdin closes.
func start(tb testing.TB, argv ...string) *proc {
	tb.Helper()
	if len(argv) < 2 || argv[0] != "agent" {
		tb.Fatalf("start(%q): want \"agent\", a role and its flags", argv)
	}
	args := argv[1:]
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ran := make(chan error, 1)
	go func() {
		err := Run(context.Background(), testRoles, args, inR, outW, io.Discard)
		outW.Close()
		ran <- err
	}()
	p := &proc{enc: wire.NewEncoder(inW), msgs: make(chan wire.Message, 64)}
	go func() {
		defer close(p.msgs)
		dec := wire.NewDecoder(outR)
		for {
			var m wire.Message
			if err := dec.Decode(&m); err != nil {
				return
			}
			p.msgs <- m
		}
	}()
	tb.Cleanup(func() {
		inW.Close()
		go func() {
			for range p.msgs {
			}
		}()
		select {
		case err := <-ran:
			if err != nil {
				tb.Errorf("%s: Run after stdin closed = %v, want nil", args[0], err)
			}
		case <-time.After(10 * time.Second):
			tb.Errorf("%s still runs 10 s after its stdin closed", args[0])
		}
	})
	select {
	case m, ok := <-p.msgs:
		if !ok || m.Ready == nil {
			tb.Fatalf("%s: first message = %+v (stream open: %t), want Ready", args[0], m, ok)
		}
		p.ready = *m.Ready
	case err := <-ran:
		tb.Fatalf("%s exited before Ready: %v", args[0], err)
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s not ready after 10 s", args[0])
	}
	return p
}

// do sends cmd and returns every message answering it, the last one being
// Done, Stats, Result or Err.
func (p *proc) do(tb testing.TB, cmd wire.Command) []wire.Message {
	tb.Helper()
	p.ids++
	cmd.ID = p.ids
	if err := p.enc.Encode(cmd); err != nil {
		tb.Fatalf("send command: %v", err)
	}
	var got []wire.Message
	timeout := time.After(time.Minute)
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				tb.Fatalf("agent exited during command %+v", cmd)
			}
			if m.ID != cmd.ID {
				tb.Fatalf("message for command %d during command %d", m.ID, cmd.ID)
			}
			got = append(got, m)
			if m.Done != nil || m.Stats != nil || m.Result != nil || m.Err != "" {
				return got
			}
		case <-timeout:
			tb.Fatalf("command %+v unanswered after a minute", cmd)
		}
	}
}

// stats asks for the agent's counters.
func (p *proc) stats(tb testing.TB) map[string]uint64 {
	tb.Helper()
	msgs := p.do(tb, wire.Command{Stats: true})
	last := msgs[len(msgs)-1]
	if last.Stats == nil {
		tb.Fatalf("stats answer = %+v, want Stats", last)
	}
	return last.Stats
}

// attack runs a and returns its samples and Done.
func (p *proc) attack(tb testing.TB, a wire.Attack) ([]results.Sample, wire.Done) {
	tb.Helper()
	var samples []results.Sample
	for _, m := range p.do(tb, wire.Command{Attack: &a}) {
		switch {
		case m.Err != "":
			tb.Fatalf("attack %q failed: %s", a.Tag, m.Err)
		case m.Done != nil:
			return samples, *m.Done
		}
		samples = append(samples, m.Samples...)
	}
	panic("unreachable: do returns at Done, Stats or Err")
}

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantOut string
		wantErr string
	}{
		{name: "listed role", args: []string{"test-args", "--a", "b"}, wantOut: "--a b"},
		{name: "no role", args: nil, wantErr: "name a role (load, server, test-args, test-calls, test-stdin)"},
		{name: "unknown role", args: []string{"nope"}, wantErr: `unknown role "nope"`},
		{name: "bad flag", args: []string{"server", "--nope"}, wantErr: "agent server: parse flags"},
		{name: "stray argument", args: []string{"server", "stray"}, wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			err := Run(t.Context(), testRoles, tt.args, strings.NewReader(""), &out, io.Discard)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Run(%q) = %v, want nil", tt.args, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Run(%q) = %v, want error containing %q", tt.args, err, tt.wantErr)
			}
			if got := out.String(); got != tt.wantOut {
				t.Errorf("Run(%q) wrote %q, want %q", tt.args, got, tt.wantOut)
			}
		})
	}
}

// The files line comes off stdin before the role runs, and the role reads
// the rest of stdin as it was sent.
func TestRunWritesFilesFromStdin(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id", "key.pem")
	var stdin bytes.Buffer
	if err := WriteFiles(&stdin, map[string][]byte{key: []byte("secret\n")}); err != nil {
		t.Fatal(err)
	}
	stdin.WriteString("rest of stdin")
	var out strings.Builder
	if err := Run(t.Context(), testRoles, []string{FilesOnStdin, "test-stdin"}, &stdin, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "rest of stdin" {
		t.Errorf("role read %q from stdin, want %q", got, "rest of stdin")
	}
	data, err := os.ReadFile(key)
	if err != nil || string(data) != "secret\n" {
		t.Fatalf("file %s = %q, %v; want %q", key, data, err, "secret\n")
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Dir(key)); fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestRunRefusesBadFilesLine(t *testing.T) {
	for name, line := range map[string]string{
		"relative path": `{"key.pem":"c2VjcmV0"}` + "\n",
		"not json":      "--file x\n",
		"no newline":    `{}`,
	} {
		t.Run(name, func(t *testing.T) {
			err := Run(t.Context(), testRoles, []string{FilesOnStdin, "test-stdin"}, strings.NewReader(line), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "stdin") {
				t.Errorf("Run = %v, want an error about the files on stdin", err)
			}
		})
	}
}
