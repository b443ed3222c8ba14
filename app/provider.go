package app

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kind"
	"github.com/meshbench/meshbench/clusters/kube"
	"github.com/meshbench/meshbench/clusters/netns"
	"github.com/meshbench/meshbench/datapaths"
)

// providerFactory makes a cluster provider from the command line.
type providerFactory struct {
	name string
	// help says what the provider's clusters are, for --provider's help.
	help string
	// flags are the flags (without --) that apply to this provider only.
	flags []string
	// newProvider makes the provider from its flags; it checks nothing on
	// the host or the cluster (clusters.Provider.Check does).
	newProvider func(o *providerOptions) (clusters.Provider, error)
}

// providers are the cluster providers --provider chooses from, the first
// the default. It is the only place the command line names a provider's
// package: past it, commands see a clusters.Provider.
var providers = []providerFactory{
	{name: "netns", help: "namespaces on this host", newProvider: newNetns},
	{name: "kube", help: "the cluster of --kubeconfig", flags: []string{"kubeconfig", "image-registry", "image-import", "inject", "webhook-failure-policy"}, newProvider: newKube},
	{name: "kind", help: "a kind cluster per case, in Docker or podman", flags: []string{"kind-image", "inject", "webhook-failure-policy"}, newProvider: newKind},
}

func newNetns(*providerOptions) (clusters.Provider, error) {
	// The datapaths' state is on this host's file system, so the netns
	// provider's cleanup removes it with the run's namespaces.
	return netns.New(netns.Options{StateRoot: datapaths.StateRoot}), nil
}

func newKube(o *providerOptions) (clusters.Provider, error) {
	quietKlog()
	if err := kube.CheckInjectOptions(o.inject, o.webhookPolicy); err != nil {
		return nil, err
	}
	opts := kube.Options{Kubeconfig: o.kubeconfig, Registry: o.imageRegistry, Inject: o.inject, FailurePolicy: o.webhookPolicy}
	if o.imageImport != "" {
		imp, err := kube.ImportCommand(strings.Fields(o.imageImport))
		if err != nil {
			return nil, err
		}
		opts.Import = imp
	}
	p, err := kube.New(opts)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func newKind(o *providerOptions) (clusters.Provider, error) {
	quietKlog()
	if err := kube.CheckInjectOptions(o.inject, o.webhookPolicy); err != nil {
		return nil, err
	}
	return kind.New(kind.Options{NodeImage: o.kindImage, Inject: o.inject, FailurePolicy: o.webhookPolicy}), nil
}

// providerOptions choose and configure the cluster provider.
type providerOptions struct {
	name          string
	kubeconfig    string
	imageRegistry string
	imageImport   string
	kindImage     string
	inject        string
	webhookPolicy string
	// cmd is the command that has the flags above; nil for one that has
	// none.
	cmd *cobra.Command
}

// addFlags adds --provider and --kubeconfig, and with images the flags
// that say how a kube cluster's nodes get the meshbench image and which
// node image kind clusters use.
func (o *providerOptions) addFlags(cmd *cobra.Command, images bool) {
	o.cmd = cmd
	f := cmd.Flags()
	choices := make([]string, len(providers))
	for i, p := range providers {
		choices[i] = fmt.Sprintf("%s (%s)", p.name, p.help)
	}
	f.StringVar(&o.name, "provider", providers[0].name, "cluster provider: "+orList(choices))
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster for --provider kube (default: $KUBECONFIG, ~/.kube/config)")
	if images {
		f.StringVar(&o.imageRegistry, "image-registry", "",
			"with --provider kube: push the meshbench image to this repository (e.g. registry.example.com/meshbench) for the nodes to pull")
		f.StringVar(&o.imageImport, "image-import", "",
			"with --provider kube: command that imports the image archive on a node, "+kube.NodePlaceholder+" and "+kube.ArchivePlaceholder+
				" replaced, e.g. 'ctr --address /run/{node}/containerd.sock -n k8s.io images import {archive}'")
		f.StringVar(&o.kindImage, "kind-image", "", "with --provider kind: the kind node image (default "+kind.DefaultNodeImage+")")
		f.StringVar(&o.inject, "inject", "", "with --provider kube or kind: how sidecars get into pods: "+
			kube.InjectWebhook+" (the default: a mutating admission webhook meshbench serves during the run, as a mesh's injector) or "+kube.InjectDirect+" (written into the pods meshbench creates)")
		f.StringVar(&o.webhookPolicy, "webhook-failure-policy", "", "with --provider kube or kind and --inject webhook: the webhook's failurePolicy, Fail (the default) or Ignore")
	}
}

// factory returns the chosen provider's factory; an unknown provider and
// another provider's flags are usage errors.
func (o *providerOptions) factory() (providerFactory, error) {
	var chosen *providerFactory
	names := make([]string, len(providers))
	for i := range providers {
		names[i] = providers[i].name
		if providers[i].name == o.name {
			chosen = &providers[i]
		}
	}
	if chosen == nil {
		return providerFactory{}, usagef("--provider %q: choose %s", o.name, orList(names))
	}
	// Flags go in groups by the providers that take them; a group set for
	// a provider outside it is named whole.
	type group struct {
		flags, providers []string
	}
	var groups []group
	for _, p := range providers {
		for _, f := range p.flags {
			var takers []string
			for _, q := range providers {
				if slices.Contains(q.flags, f) {
					takers = append(takers, q.name)
				}
			}
			i := slices.IndexFunc(groups, func(g group) bool { return slices.Equal(g.providers, takers) })
			if i < 0 {
				groups = append(groups, group{providers: takers})
				i = len(groups) - 1
			}
			if !slices.Contains(groups[i].flags, f) {
				groups[i].flags = append(groups[i].flags, f)
			}
		}
	}
	for _, g := range groups {
		if slices.Contains(g.providers, chosen.name) || !o.anySet(g.flags) {
			continue
		}
		flags := make([]string, len(g.flags))
		for i, f := range g.flags {
			flags[i] = "--" + f
		}
		verb := "apply"
		if len(flags) == 1 {
			verb = "applies"
		}
		return providerFactory{}, usagef("%s %s to --provider %s only", andList(flags), verb, orList(g.providers))
	}
	return *chosen, nil
}

// anySet reports whether any of the flags has a value.
func (o *providerOptions) anySet(names []string) bool {
	if o.cmd == nil {
		return false
	}
	for _, name := range names {
		if f := o.cmd.Flags().Lookup(name); f != nil && f.Value.String() != "" {
			return true
		}
	}
	return false
}

// provider returns the chosen provider, made from its flags, without
// checking it.
func (o *providerOptions) provider() (clusters.Provider, error) {
	f, err := o.factory()
	if err != nil {
		return nil, err
	}
	return f.newProvider(o)
}

// ready returns the chosen provider once it proved it can create the
// clusters need describes, with the image on the nodes where the provider
// has one to prepare.
func (o *providerOptions) ready(ctx context.Context, need clusters.Need) (clusters.Provider, error) {
	p, err := o.provider()
	if err != nil {
		return nil, err
	}
	if err := p.Check(ctx, need); err != nil {
		return nil, err
	}
	if ip, ok := p.(clusters.ImagePreparer); ok {
		if err := ip.PrepareImage(ctx, need); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// orList joins items as "a, b or c"; andList as "a, b and c".
func orList(items []string) string  { return joinList(items, " or ") }
func andList(items []string) string { return joinList(items, " and ") }

func joinList(items []string, last string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + last + items[len(items)-1]
}

// quietKlog stops client-go from logging to stderr, over the status lines:
// what it logs about broken exec streams reaches meshbench as errors too.
func quietKlog() {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
}
