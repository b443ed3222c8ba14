package steer

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Role is the agent role that installs or removes a table in the network
// namespace it runs in: the sidecar's init container (as istio-init) and
// the node proxy's steering on each node. It is one-shot: it does its work
// and exits, without the control protocol.
const Role = "steer"

// SelfNetNS is the calling process's network namespace.
const SelfNetNS = "/proc/self/ns/net"

// Options are the role's flags: install Table, or with Remove remove the
// table named Table.Name. Table.NetNS is where the role runs, so it is not
// passed.
type Options struct {
	Table  Table
	Remove bool
}

// Args renders o as the arguments of the meshbench executable that run the
// role with it.
func (o Options) Args() []string {
	args := []string{"agent", Role, "-table", o.Table.Name}
	if o.Remove {
		return append(args, "-remove")
	}
	args = append(args, "-skip-mark", "0x"+strconv.FormatUint(uint64(o.Table.SkipMark), 16))
	for _, r := range o.Table.Rules {
		args = append(args, "-rule", r.String())
	}
	for _, r := range o.Table.Rejects {
		args = append(args, "-reject", r.String())
	}
	return args
}

// String renders r as the role's -reject flag: "dst=CIDR[,dport=N]".
func (r Reject) String() string {
	s := "dst=" + r.Dst.String()
	if r.DstPort != 0 {
		s += ",dport=" + strconv.Itoa(int(r.DstPort))
	}
	return s
}

// ParseReject reads the form Reject.String writes.
func ParseReject(s string) (Reject, error) {
	var r Reject
	for kv := range strings.SplitSeq(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "dst":
			r.Dst, err = netip.ParsePrefix(v)
		case "dport":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 16)
			r.DstPort = uint16(n)
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return r, fmt.Errorf("reject %q: %w", s, err)
		}
	}
	if !r.Dst.IsValid() || !r.Dst.Addr().Is4() {
		return r, fmt.Errorf("reject %q: want dst=IPv4 CIDR", s)
	}
	return r, nil
}

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

func parseOptions(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet(Role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := Options{Table: Table{NetNS: SelfNetNS}}
	fs.BoolVar(&o.Remove, "remove", false, "remove the table instead of installing it")
	fs.StringVar(&o.Table.Name, "table", "", "nftables table `name`")
	fs.Func("skip-mark", "exempt packets with this `mark` (the proxy's own)", func(s string) error {
		m, err := strconv.ParseUint(s, 0, 32)
		o.Table.SkipMark = uint32(m)
		return err
	})
	fs.Func("rule", "a redirect `rule`: HOOK[,src=CIDR][,dst=CIDR][,dport=N],to=PORT (repeatable)", func(s string) error {
		r, err := ParseRule(s)
		o.Table.Rules = append(o.Table.Rules, r)
		return err
	})
	fs.Func("reject", "reset TCP to `dst=CIDR[,dport=N]` unless it carries the skip mark (repeatable)", func(s string) error {
		r, err := ParseReject(s)
		o.Table.Rejects = append(o.Table.Rejects, r)
		return err
	})
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("parse flags: %w", err)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	case o.Table.Name == "":
		return o, fmt.Errorf("parse flags: -table is required")
	case !o.Remove && len(o.Table.Rules) == 0 && len(o.Table.Rejects) == 0:
		return o, fmt.Errorf("parse flags: give at least one -rule or -reject")
	}
	return o, nil
}

// Run runs the role: it installs or removes the table its flags describe
// in the calling process's network namespace.
func Run(_ context.Context, args []string, _ io.Reader, _, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if o.Remove {
		return Remove(o.Table.NetNS, o.Table.Name)
	}
	return Install(o.Table)
}
