package app

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kind"
	"github.com/meshbench/meshbench/clusters/kube"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/scenarios"
)

// The cluster providers --provider chooses from.
const (
	providerNetns = "netns"
	providerKube  = "kube"
	providerKind  = "kind"
)

// providerOptions choose and configure the cluster provider.
type providerOptions struct {
	name        string
	kube        kube.Options
	imageImport string
	kindImage   string
}

// addFlags adds --provider and --kubeconfig, and with images the flags
// that say how a kube cluster's nodes get the meshbench image and which
// node image kind clusters use.
func (o *providerOptions) addFlags(cmd *cobra.Command, images bool) {
	f := cmd.Flags()
	f.StringVar(&o.name, "provider", providerNetns, "cluster provider: netns (namespaces on this host), kube (the cluster of --kubeconfig) or kind (a kind cluster per case, in Docker or podman)")
	f.StringVar(&o.kube.Kubeconfig, "kubeconfig", "", "kubeconfig of the cluster for --provider kube (default: $KUBECONFIG, ~/.kube/config)")
	if images {
		f.StringVar(&o.kube.Registry, "image-registry", "",
			"with --provider kube: push the meshbench image to this repository (e.g. registry.example.com/meshbench) for the nodes to pull")
		f.StringVar(&o.imageImport, "image-import", "",
			"with --provider kube: command that imports the image archive on a node, "+kube.NodePlaceholder+" and "+kube.ArchivePlaceholder+
				" replaced, e.g. 'ctr --address /run/{node}/containerd.sock -n k8s.io images import {archive}'")
		f.StringVar(&o.kindImage, "kind-image", "", "with --provider kind: the kind node image (default "+kind.DefaultNodeImage+")")
	}
}

// check rejects an unknown provider and another provider's flags.
func (o *providerOptions) check() error {
	switch o.name {
	case providerNetns, providerKind:
		if o.kube.Kubeconfig != "" || o.kube.Registry != "" || o.imageImport != "" {
			return usagef("--kubeconfig, --image-registry and --image-import apply to --provider kube only")
		}
	case providerKube:
	default:
		return usagef("--provider %q: choose %s, %s or %s", o.name, providerNetns, providerKube, providerKind)
	}
	if o.kindImage != "" && o.name != providerKind {
		return usagef("--kind-image applies to --provider kind only")
	}
	return nil
}

// provider returns the provider for a run of cases, once the host (netns,
// kind) or the cluster (kube) proved it can run them.
func (o *providerOptions) provider(ctx context.Context, cases []scenarios.Case) (clusters.Provider, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.name == providerNetns {
		if err := netns.Check(); err != nil {
			return nil, err
		}
		return netns.New(netns.Options{}), nil
	}
	if o.name == providerKind {
		quietKlog()
		p, err := kind.New(ctx, kind.Options{NodeImage: o.kindImage})
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	nodes := 0
	for _, c := range cases {
		nodes = max(nodes, c.Nodes)
	}
	quietKlog()
	if o.imageImport != "" {
		imp, err := kube.ImportCommand(strings.Fields(o.imageImport))
		if err != nil {
			return nil, err
		}
		o.kube.Import = imp
	}
	p, err := kube.New(o.kube)
	if err != nil {
		return nil, err
	}
	if err := p.Check(ctx, nodes); err != nil {
		return nil, err
	}
	if err := p.PrepareImage(ctx, nodes); err != nil {
		return nil, err
	}
	return p, nil
}

// cleanupKube deletes the namespaces that runs left in the cluster.
func cleanupKube(ctx context.Context, o providerOptions, runID string, stdout io.Writer) error {
	quietKlog()
	p, err := kube.New(o.kube)
	if err != nil {
		return err
	}
	deleted, err := kube.Cleanup(ctx, p.Client(), runID)
	if err != nil {
		return err
	}
	for _, ns := range deleted {
		fmt.Fprintf(stdout, "deleted namespace %s\n", ns)
	}
	if len(deleted) == 0 {
		fmt.Fprintln(stdout, "nothing to clean up")
	}
	return nil
}

// cleanupKind deletes the kind clusters that runs left.
func cleanupKind(ctx context.Context, runID string, stdout io.Writer) error {
	deleted, err := kind.Cleanup(ctx, runID)
	for _, name := range deleted {
		fmt.Fprintf(stdout, "deleted kind cluster %s\n", name)
	}
	if err == nil && len(deleted) == 0 {
		fmt.Fprintln(stdout, "nothing to clean up")
	}
	return err
}

// quietKlog stops client-go from logging to stderr, over the status lines:
// what it logs about broken exec streams reaches meshbench as errors too.
func quietKlog() {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
}
