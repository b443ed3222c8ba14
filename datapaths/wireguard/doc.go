// Package wireguard encrypts pod traffic between nodes below any proxy, as
// Cilium's and Calico's WireGuard modes do: `encryption: wireguard` in a
// scenario's options of none, nodeproxy or ebpf (with its proxy).
//
// Every node's namespace gets a WireGuard device with a key pair made for
// the cluster; each other node is a peer at its fabric address, and the
// node routes the peers' pod ranges and addresses through the device (a
// routing table and rule of its own, in the node's namespace only, never
// the host's), so that pod-to-pod packets and the node proxies' tunnels
// alike cross the fabric only as WireGuard UDP. Where the node's kernel
// has WireGuard, the device is the kernel's, configured through wgctrl;
// elsewhere (no module, as on the machines meshbench is developed on) it is
// wireguard-go over a TUN device, inside the node agent. Results record
// which ([datapaths.Encryption]): userspace WireGuard costs far more CPU
// than the kernel's, and the kernel's encrypts in softirq and kernel
// workers, charged to no cgroup, so that the node agent's cost is the
// datapath's only for userspace. Only the userspace path has run here: the
// kernel path is written to the same configuration but untested.
//
// Lifecycle: [Encrypt] wraps a datapath kind. The wrapped datapath's
// Install counts, in a bridge table of the fabric's namespace, the TCP and
// WireGuard packets the fabric switches between nodes ([Fabric]), starts one
// node agent per node ([Role], in a container of its own so that its CPU
// and memory are the datapath's), then installs the inner datapath. Verify
// fails with datapaths.ErrNotInPath if one plaintext TCP packet crossed the
// fabric, or no WireGuard packet did though servers run on other nodes.
// Uninstall stops the agents, which remove their devices, routes and rules
// (a killed agent's TUN device dies with it; the rest with the node's
// namespace), removes the fabric's table and the key files.
//
// On providers without a fabric namespace (kube, and kind through it) the
// nodes are the cluster's own and shared: the node agents route only the
// run's pods, and the node proxies' tunnel port between the run's nodes,
// through devices and tables named after the run ([NamesOf]); each counts
// plaintext on its node's fabric-facing device ([Count]); and a node whose
// CNI already encrypts is ErrUnsupported rather than a second tunnel. A
// killed agent's rules, routes and kernel device are removed by
// [RemoveRun], which the kube provider's node agent runs as it ends.
package wireguard
