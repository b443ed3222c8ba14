package builtin

import (
	"github.com/meshbench/meshbench/datapaths"
	"github.com/meshbench/meshbench/datapaths/ebpf"
	"github.com/meshbench/meshbench/datapaths/nodeproxy"
	"github.com/meshbench/meshbench/datapaths/none"
	"github.com/meshbench/meshbench/datapaths/sidecar"
	"github.com/meshbench/meshbench/datapaths/wireguard"
)

// Datapaths lists every datapath the binary can install, in the order they
// are reported; the first, none, is the floor every comparison starts from
// and the default of a scenario that names no datapath. All but the
// sidecar mesh can run over WireGuard tunnels between the nodes.
func Datapaths() datapaths.Registry {
	return datapaths.Registry{wireguard.Encrypt(none.Kind), sidecar.Kind, wireguard.Encrypt(nodeproxy.Kind), wireguard.Encrypt(ebpf.Kind)}
}
