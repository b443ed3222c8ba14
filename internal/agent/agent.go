package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/meshbench/meshbench/internal/wire"
)

// RoleFunc runs one role until stdin closes or ctx ends. args are the
// role's flags; stdin and stdout carry the wire protocol.
type RoleFunc func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error

// Roles maps role names to the functions that run them: what Run
// dispatches to. builtin.Roles lists every role a meshbench binary has.
type Roles map[string]RoleFunc

// FilesOnStdin, as the argument before the role, makes `meshbench agent`
// read one line from its stdin before it runs the role: a JSON object of
// absolute paths to contents (WriteFiles), which it writes, mode 0600.
// This is how a datapath hands its processes their configuration and
// identity keys on every provider, whether they share the runner's file
// system (netns) or not (kube), without putting them in argv or the
// environment, which any local user can read in /proc.
const FilesOnStdin = "--files-on-stdin"

// maxFilesLine bounds the files line, so that a broken writer cannot make
// an agent buffer without end.
const maxFilesLine = 16 << 20

// WriteFiles sends files (path to content) to an agent started with
// FilesOnStdin; it must be the first thing written to the agent's stdin.
func WriteFiles(w io.Writer, files map[string][]byte) error {
	line, err := json.Marshal(files)
	if err != nil {
		return fmt.Errorf("encode agent files: %w", err)
	}
	if _, err := w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("send agent files: %w", err)
	}
	return nil
}

// readFiles reads the files line from stdin and writes each file
// atomically (agents sharing a file system may write the same one). It
// returns the reader the role must go on reading stdin from.
func readFiles(stdin io.Reader) (io.Reader, error) {
	files, rest, err := readFilesLine(stdin)
	if err != nil {
		return nil, err
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if err := writeAtomic(p, files[p]); err != nil {
			return nil, err
		}
	}
	return rest, nil
}

// readFilesLine reads and decodes the files line, at most maxFilesLine
// bytes, every path absolute. It returns the files and the reader of the
// rest of stdin.
func readFilesLine(stdin io.Reader) (map[string][]byte, io.Reader, error) {
	br := bufio.NewReader(io.LimitReader(stdin, maxFilesLine))
	line, err := br.ReadBytes('\n')
	if err != nil {
		return nil, nil, fmt.Errorf("read files from stdin: %w", err)
	}
	var files map[string][]byte
	if err := json.Unmarshal(line, &files); err != nil {
		return nil, nil, fmt.Errorf("decode files from stdin: %w", err)
	}
	for p := range files {
		if !filepath.IsAbs(p) {
			return nil, nil, fmt.Errorf("file %.40q from stdin: want an absolute path", p)
		}
	}
	// Past the files line the role reads on: what br holds, then, once the
	// limit ends br, the rest of stdin.
	return files, io.MultiReader(br, stdin), nil
}

// writeAtomic writes data to p (mode 0600, in a 0700 directory if it has
// to make one) through a temporary file and a rename.
func writeAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// Run runs the role of roles named by the first argument with the flags
// that follow it; a leading FilesOnStdin first writes the files sent on
// stdin.
func Run(ctx context.Context, roles Roles, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == FilesOnStdin {
		var err error
		if stdin, err = readFiles(stdin); err != nil {
			return fmt.Errorf("run agent: %w", err)
		}
		args = args[1:]
	}
	names := slices.Sorted(maps.Keys(roles))
	var fn RoleFunc
	if len(args) > 0 {
		fn = roles[args[0]]
	}
	switch {
	case len(args) == 0:
		return fmt.Errorf("run agent: name a role (%s)", strings.Join(names, ", "))
	case fn == nil:
		return fmt.Errorf("run agent: unknown role %q (known: %s)", args[0], strings.Join(names, ", "))
	}
	if err := fn(ctx, args[1:], stdin, stdout, stderr); err != nil {
		return fmt.Errorf("agent %s: %w", args[0], err)
	}
	return nil
}

// parseFlags parses args into fs, printing usage to stderr on error.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	}
	return nil
}

// handler answers one command. Messages it sends must carry cmd.ID; an error
// it returns ends the command with Message.Err.
type handler func(ctx context.Context, cmd wire.Command, enc *wire.Encoder) error

// control reads Commands from stdin and hands them to handle one at a time
// until stdin closes or ctx ends, which both count as a clean exit. The
// context handed to handle ends when stdin closes, so that an attack stops
// when the runner goes away.
func control(ctx context.Context, stdin io.Reader, enc *wire.Encoder, handle handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmds := make(chan wire.Command)
	readErr := make(chan error, 1)
	go func() {
		// On ctx's end this goroutine stays blocked in Read until the
		// caller closes stdin; the process is exiting by then.
		defer cancel()
		dec := wire.NewDecoder(stdin)
		for {
			var cmd wire.Command
			if err := dec.Decode(&cmd); err != nil {
				if !errors.Is(err, io.EOF) {
					readErr <- fmt.Errorf("read command: %w", err)
				}
				return
			}
			select {
			case cmds <- cmd:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			select {
			case err := <-readErr:
				return err
			default:
				return nil
			}
		case cmd := <-cmds:
			if err := handle(ctx, cmd, enc); err != nil {
				if err := enc.Encode(wire.Message{ID: cmd.ID, Err: err.Error()}); err != nil {
					return fmt.Errorf("report failed command %d: %w", cmd.ID, err)
				}
			}
		}
	}
}
