package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/meshbench/meshbench/internal/wire"
)

// RoleFunc runs one role until stdin closes or ctx ends. args are the
// role's flags; stdin and stdout carry the wire protocol.
type RoleFunc func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error

var (
	rolesMu sync.RWMutex
	roles   = map[string]RoleFunc{
		"server": runServer,
		"load":   runLoad,
	}
)

// Register adds a role that Run dispatches to by name. It is meant to be
// called from init functions and panics if the name is taken.
func Register(name string, fn RoleFunc) {
	rolesMu.Lock()
	defer rolesMu.Unlock()
	if _, ok := roles[name]; ok {
		panic(fmt.Sprintf("agent: role %q registered twice", name))
	}
	roles[name] = fn
}

// fileFlag is the flag before the role that hands an agent a file.
const fileFlag = "--file"

// FileArgs renders files (path to content) as the arguments that make
// `meshbench agent` write them before it runs its role: how a datapath
// hands its processes their configuration on every provider, whether they
// share the runner's file system (netns) or not (kube).
func FileArgs(files map[string][]byte) []string {
	var args []string
	for _, p := range slices.Sorted(maps.Keys(files)) {
		args = append(args, fileFlag, p+"="+base64.StdEncoding.EncodeToString(files[p]))
	}
	return args
}

// writeFiles writes the files that leading --file flags carry, each
// atomically (agents sharing a file system may write the same one), and
// returns the arguments after them.
func writeFiles(args []string) ([]string, error) {
	for len(args) >= 2 && args[0] == fileFlag {
		p, enc, ok := strings.Cut(args[1], "=")
		if !ok || !filepath.IsAbs(p) {
			return nil, fmt.Errorf("%s %.40q: want ABSOLUTE-PATH=BASE64", fileFlag, args[1])
		}
		data, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", fileFlag, p, err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
		if err != nil {
			return nil, fmt.Errorf("write %s: %w", p, err)
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
			return nil, fmt.Errorf("write %s: %w", p, err)
		}
		args = args[2:]
	}
	return args, nil
}

// Run writes the files of leading --file flags, then runs the role named
// by the next argument with the flags that follow it.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	args, err := writeFiles(args)
	if err != nil {
		return fmt.Errorf("run agent: %w", err)
	}
	rolesMu.RLock()
	names := slices.Sorted(maps.Keys(roles))
	var fn RoleFunc
	if len(args) > 0 {
		fn = roles[args[0]]
	}
	rolesMu.RUnlock()
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
