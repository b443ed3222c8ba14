// Command capdrop is the OCI runtime the namespaced Docker engine of
// hack/kindengine runs containers with: it removes from a container's
// spec, and from the process spec of `docker exec`, every capability that
// its own bounding set lacks, then runs runc with the same arguments.
//
// Docker 20.10's --privileged asks for every capability the kernel knows;
// where the engine's bounding set lacks one (CAP_SYS_RESOURCE in some
// sandboxes), runc fails with "unable to apply caps". Dropping only what
// the engine could never grant changes nothing anywhere else.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// runtime is the OCI runtime capdrop hands over to.
const runtime = "runc"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "capdrop:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	bounding, err := boundingSet("/proc/self/status")
	if err != nil {
		return err
	}
	if spec, ok := specFile(args); ok {
		if err := dropCaps(spec, bounding); err != nil {
			return err
		}
	}
	bin, err := exec.LookPath(runtime)
	if err != nil {
		return fmt.Errorf("find %s: %w", runtime, err)
	}
	return syscall.Exec(bin, append([]string{runtime}, args...), os.Environ())
}

// specFile finds the JSON file that holds the capabilities the command
// in args asks for: the bundle's config.json for create and run, the
// --process file for exec.
func specFile(args []string) (string, bool) {
	cmd, rest := command(args)
	switch cmd {
	case "create", "run":
		bundle := "."
		if b, ok := flagValue(rest, "--bundle", "-b"); ok {
			bundle = b
		}
		return filepath.Join(bundle, "config.json"), true
	case "exec":
		return flagValue(rest, "--process", "-p")
	}
	return "", false
}

// globalWithValue are runc's global flags that take a separate value.
var globalWithValue = map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}

// command returns runc's subcommand in args and the arguments after it.
func command(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a, args[i+1:]
		}
		if globalWithValue[a] {
			i++
		}
	}
	return "", nil
}

// flagValue is the value of the flag named long or short in args, given
// as "--flag value" or "--flag=value".
func flagValue(args []string, long, short string) (string, bool) {
	for i, a := range args {
		for _, name := range []string{long, short} {
			if a == name && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

// boundingSet reads the CapBnd mask of a /proc/PID/status file.
func boundingSet(status string) (uint64, error) {
	f, err := os.Open(status)
	if err != nil {
		return 0, fmt.Errorf("read bounding set: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapBnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("read bounding set: %w", err)
			}
			return mask, nil
		}
	}
	if err := s.Err(); err != nil {
		return 0, fmt.Errorf("read bounding set: %w", err)
	}
	return 0, errors.New("read bounding set: no CapBnd line in " + status)
}

// capBits are the capabilities' numbers (linux/capability.h).
var capBits = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
	"CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
	"CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
	"CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
	"CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
	"CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
	"CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
	"CAP_CHECKPOINT_RESTORE": 40,
}

// dropCaps rewrites the spec at path without the capabilities bounding
// lacks, in every set. A spec without capabilities is left as it is;
// unknown names are kept, for runc to judge.
func dropCaps(path string, bounding uint64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("read runtime spec: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read runtime spec: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("decode runtime spec %s: %w", path, err)
	}
	// config.json holds the capabilities under process, a process spec
	// at its top level.
	procKey, proc := "", doc
	if raw, ok := doc["process"]; ok {
		procKey = "process"
		if err := json.Unmarshal(raw, &proc); err != nil {
			return fmt.Errorf("decode runtime spec %s: process: %w", path, err)
		}
	}
	raw, ok := proc["capabilities"]
	if !ok || string(raw) == "null" {
		return nil
	}
	var sets map[string][]string
	if err := json.Unmarshal(raw, &sets); err != nil {
		return fmt.Errorf("decode runtime spec %s: capabilities: %w", path, err)
	}
	changed := false
	for name, caps := range sets {
		kept := caps[:0:0]
		for _, c := range caps {
			if bit, known := capBits[c]; known && bounding&(1<<bit) == 0 {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		sets[name] = kept
	}
	if !changed {
		return nil
	}
	if proc["capabilities"], err = json.Marshal(sets); err != nil {
		return fmt.Errorf("encode runtime spec: %w", err)
	}
	if procKey != "" {
		if doc[procKey], err = json.Marshal(proc); err != nil {
			return fmt.Errorf("encode runtime spec: %w", err)
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode runtime spec: %w", err)
	}
	return os.WriteFile(path, out, fi.Mode().Perm())
}
