package scenarios

import (
	"slices"
	"strings"
)

// Datapath describes a datapath that scenarios may name, as far as
// validation needs to know it. The binary's datapaths (package datapaths)
// give the list; this package knows no datapath by name.
type Datapath struct {
	Name string
	// Proxy is set for a datapath that runs a proxy, so that mode l7 and
	// mtls apply to it.
	Proxy bool
	// ProxyOptional is set for a datapath that can also run without its
	// proxy (proxy: off).
	ProxyOptional bool
	// Waypoint is set for a datapath that can send each service's traffic
	// through a waypoint (waypoint: true).
	Waypoint bool
	// Encryption is set for a datapath that can run over encrypted tunnels
	// between the nodes (encryption: wireguard), with its proxy on.
	Encryption bool
	// NodeAttach is set for a datapath whose programs can attach at the
	// node instead of each pod (attach: node).
	NodeAttach bool
	// Enrol is how the datapath joins a running cluster: EnrolRestart,
	// EnrolAttach or EnrolNothing; empty where it cannot (enrol phase).
	Enrol string
}

// Datapaths are the datapaths a scenario may name, in the order messages
// list them. The first is the default of a scenario that names none.
type Datapaths []Datapath

// Names lists the datapaths' names in order.
func (ds Datapaths) Names() []string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.Name
	}
	return names
}

// Lookup returns the datapath named name.
func (ds Datapaths) Lookup(name string) (Datapath, bool) {
	i := slices.IndexFunc(ds, func(d Datapath) bool { return d.Name == name })
	if i < 0 {
		return Datapath{}, false
	}
	return ds[i], true
}

// defaultName is the name of the default datapath; empty without datapaths.
func (ds Datapaths) defaultName() string {
	if len(ds) == 0 {
		return ""
	}
	return ds[0].Name
}

func (ds Datapaths) known(name string) bool {
	_, ok := ds.Lookup(name)
	return ok
}

// list is the names for a message: "none, sidecar, nodeproxy, ebpf".
func (ds Datapaths) list() string { return strings.Join(ds.Names(), ", ") }

// waypoints is the names of the datapaths that take a waypoint, for a
// message: "nodeproxy".
func (ds Datapaths) waypoints() string {
	var names []string
	for _, d := range ds {
		if d.Waypoint {
			names = append(names, d.Name)
		}
	}
	return strings.Join(names, " or ")
}

// encryptable is the names of the datapaths that take encryption, for a
// message: "none, nodeproxy or ebpf".
func (ds Datapaths) encryptable() string {
	var names []string
	for _, d := range ds {
		if d.Encryption {
			names = append(names, d.Name)
		}
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// proxyOptional is the names of the datapaths that can run without their
// proxy, for a message: "ebpf" or "ebpf or other".
func (ds Datapaths) proxyOptional() string {
	var names []string
	for _, d := range ds {
		if d.ProxyOptional {
			names = append(names, d.Name)
		}
	}
	return strings.Join(names, " or ")
}
