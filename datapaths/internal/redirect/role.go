package redirect

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/meshbench/meshbench/internal/agent"
)

// Role is the agent role that installs or removes a table in the network
// namespace it runs in: the sidecar's init container (as istio-init) and
// the node proxy's steering on each node. It is one-shot: it does its work
// and exits, without the control protocol.
const Role = "redirect"

// SelfNetNS is the calling process's network namespace.
const SelfNetNS = "/proc/self/ns/net"

func init() { agent.Register(Role, runRole) }

// Args renders the arguments of the meshbench executable that install t
// (its NetNS is where the role runs, so it is not passed).
func (t Table) Args() []string {
	args := []string{"agent", Role, "-table", t.Name, "-skip-mark", "0x" + strconv.FormatUint(uint64(t.SkipMark), 16)}
	for _, r := range t.Rules {
		args = append(args, "-rule", r.String())
	}
	return args
}

// RemoveArgs renders the arguments of the meshbench executable that remove
// the table name.
func RemoveArgs(name string) []string { return []string{"agent", Role, "-table", name, "-remove"} }

// String renders r as the role's -rule flag: "HOOK[,src=CIDR][,dst=CIDR][,dport=N],to=PORT".
func (r Rule) String() string {
	parts := []string{"output"}
	if r.Hook == Prerouting {
		parts[0] = "prerouting"
	}
	if r.Src.IsValid() {
		parts = append(parts, "src="+r.Src.String())
	}
	if r.Dst.IsValid() {
		parts = append(parts, "dst="+r.Dst.String())
	}
	if r.DstPort != 0 {
		parts = append(parts, "dport="+strconv.Itoa(int(r.DstPort)))
	}
	return strings.Join(append(parts, "to="+strconv.Itoa(int(r.ToPort))), ",")
}

// ParseRule reads the form Rule.String writes.
func ParseRule(s string) (Rule, error) {
	var r Rule
	parts := strings.Split(s, ",")
	switch parts[0] {
	case "output":
		r.Hook = Output
	case "prerouting":
		r.Hook = Prerouting
	default:
		return r, fmt.Errorf("rule %q: hook %q: want output or prerouting", s, parts[0])
	}
	for _, kv := range parts[1:] {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "src":
			r.Src, err = netip.ParsePrefix(v)
		case "dst":
			r.Dst, err = netip.ParsePrefix(v)
		case "dport", "to":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 16)
			if k == "dport" {
				r.DstPort = uint16(n)
			} else {
				r.ToPort = uint16(n)
			}
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return r, fmt.Errorf("rule %q: %w", s, err)
		}
	}
	if r.ToPort == 0 {
		return r, fmt.Errorf("rule %q: want to=PORT", s)
	}
	return r, nil
}

func runRole(_ context.Context, args []string, _ io.Reader, _, stderr io.Writer) error {
	fs := flag.NewFlagSet(Role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	t := Table{NetNS: SelfNetNS}
	remove := fs.Bool("remove", false, "remove the table instead of installing it")
	fs.StringVar(&t.Name, "table", "", "nftables table `name`")
	fs.Func("skip-mark", "exempt packets with this `mark` (the proxy's own)", func(s string) error {
		m, err := strconv.ParseUint(s, 0, 32)
		t.SkipMark = uint32(m)
		return err
	})
	fs.Func("rule", "a redirect `rule`: HOOK[,src=CIDR][,dst=CIDR][,dport=N],to=PORT (repeatable)", func(s string) error {
		r, err := ParseRule(s)
		t.Rules = append(t.Rules, r)
		return err
	})
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parse flags: %w", err)
	}
	switch {
	case t.Name == "":
		return fmt.Errorf("parse flags: -table is required")
	case *remove:
		return Remove(t.NetNS, t.Name)
	case len(t.Rules) == 0:
		return fmt.Errorf("parse flags: give at least one -rule")
	}
	return Install(t)
}
