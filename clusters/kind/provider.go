package kind

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kube"
)

// DefaultNodeImage is the node image of the kind release meshbench is
// built with.
const DefaultNodeImage = defaults.Image

// ClusterPrefix starts the name of every kind cluster meshbench creates.
const ClusterPrefix = "meshbench-"

const (
	// controlPlaneTimeout bounds kind's wait for the control plane.
	controlPlaneTimeout = 3 * time.Minute
	// workersTimeout bounds the wait for the workers once kind is done.
	workersTimeout = 3 * time.Minute
	// pollEvery is how often the wait for the workers looks.
	pollEvery = time.Second
	// kubeconfigFile is the name of the kubeconfig in a cluster's
	// directory.
	kubeconfigFile = "kubeconfig"
)

// ClusterName is the name of the kind cluster of the run id runID.
func ClusterName(runID string) string { return ClusterPrefix + runID }

// Options configure the provider.
type Options struct {
	// NodeImage is the kind node image; empty means DefaultNodeImage.
	NodeImage string
	// Inject and FailurePolicy are the kube provider's (kube.Options).
	Inject, FailurePolicy string
}

// Provider creates a kind cluster per Create and the case's cluster in it
// through the kube provider. It finds the container engine kind runs its
// nodes in (Docker, else podman, as kind's own detection) when it first
// needs one.
type Provider struct {
	image string
	// inject and policy are passed to the kube provider.
	inject, policy string

	// keep says whether a case's kind cluster goes to idle for the next
	// case of the same size instead of being deleted (Keep).
	keepMu sync.Mutex
	keep   bool
	idle   []*Cluster

	mu   sync.Mutex
	eng  engine
	kind *cluster.Provider // nil until an engine is found
}

var (
	_ clusters.Provider = (*Provider)(nil)
	_ clusters.Keeper   = (*Provider)(nil)
	_ clusters.Cluster  = (*Cluster)(nil)
	_ clusters.Roller   = (*Cluster)(nil)
)

// New returns a provider; it looks at nothing (Check does).
func New(opts Options) *Provider {
	return &Provider{image: cmp.Or(opts.NodeImage, DefaultNodeImage), inject: opts.Inject, policy: opts.FailurePolicy}
}

// Check reports whether the host can create kind clusters: a Docker or
// podman engine runs, the node image is in it or in reach of it, and the
// running executable is a static Linux binary the kube provider can pack
// into the pods' image. Its errors wrap clusters.ErrConfig, apart from a
// cancelled ctx; it creates nothing.
func (p *Provider) Check(ctx context.Context, need clusters.Need) error {
	e, _, err := p.engine(ctx)
	if err != nil {
		return err
	}
	if err := e.checkImage(ctx, p.image); err != nil {
		return err
	}
	// On error the empty path makes StaticExecutable fail.
	exe, _, _ := clusters.AgentExecutable()
	_, err = kube.StaticExecutable(exe)
	return err
}

// engine returns the container engine and the kind library over it,
// detecting the engine on the first call that finds one.
func (p *Provider) engine(ctx context.Context) (engine, *cluster.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kind == nil {
		e, err := detectEngine(ctx)
		if err != nil {
			return engine{}, nil, err
		}
		p.eng, p.kind = e, cluster.NewProvider(e.option)
	}
	return p.eng, p.kind, nil
}

// Create makes the kind cluster of spec.RunID with spec.Nodes workers,
// waits until the workers are ready, and creates the case's cluster in it
// with the kube provider. On any error, including ctx being cancelled, it
// deletes the kind cluster before returning.
func (p *Provider) Create(ctx context.Context, spec clusters.Spec) (clusters.Cluster, error) {
	if spec.Nodes < 1 {
		return nil, fmt.Errorf("plan cluster: %d nodes: want at least 1", spec.Nodes)
	}
	e, lib, err := p.engine(ctx)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := p.kept(spec.Nodes)
	if c == nil {
		c = &Cluster{kind: lib, eng: e, name: ClusterName(spec.RunID), workers: spec.Nodes, provider: p}
		if c.dir, err = os.MkdirTemp("", c.name+"-"); err != nil {
			return nil, fmt.Errorf("kind cluster %s: %w", c.name, err)
		}
		if err := p.createKind(ctx, c, spec.Nodes); err != nil {
			return nil, errors.Join(err, os.RemoveAll(c.dir))
		}
		c.kube, err = kube.New(kube.Options{Kubeconfig: c.kubeconfig(), Import: importer(lib, c.name),
			Inject: p.inject, FailurePolicy: p.policy})
		if err == nil {
			err = waitWorkers(ctx, c.kube.Client(), spec.Nodes, workersTimeout)
		}
	}
	if err == nil {
		var kc clusters.Cluster
		if kc, err = c.kube.Create(ctx, spec); err == nil {
			c.Cluster = kc.(*kube.Cluster)
		}
	}
	if err != nil {
		err = fmt.Errorf("kind cluster %s: %w", c.name, err)
		if derr := c.deleteKind(); derr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", derr))
		}
		return nil, err
	}
	return c, nil
}

// createKind creates c's kind cluster and writes its kubeconfig (the
// host's address of the API server) into c's directory, never into the
// user's kubeconfig. A failed creation deletes its nodes itself; one that
// ctx cancels is aborted by deleting the nodes under it.
func (p *Provider) createKind(ctx context.Context, c *Cluster, workers int) error {
	done := make(chan error, 1)
	go func() {
		done <- c.kind.Create(c.name,
			cluster.CreateWithV1Alpha4Config(config(c.name, workers)),
			cluster.CreateWithNodeImage(p.image),
			cluster.CreateWithKubeconfigPath(c.kubeconfig()),
			cluster.CreateWithWaitForReady(controlPlaneTimeout))
	}()
	select {
	case err := <-done:
		if err != nil {
			return kindError("create kind cluster "+c.name, err)
		}
		return nil
	case <-ctx.Done():
	}
	// Errors are expected while kind and the deletion race; the last
	// deletion, after kind gave up, is the one that counts.
	_ = c.kind.Delete(c.name, c.kubeconfig())
	<-done
	if err := c.deleteKind(); err != nil {
		return errors.Join(ctx.Err(), err)
	}
	return ctx.Err()
}

// config is the kind cluster for workers worker nodes: one control-plane
// node, tainted, and the workers. The node image comes from
// cluster.CreateWithNodeImage.
func config(name string, workers int) *v1alpha4.Cluster {
	c := &v1alpha4.Cluster{Name: name, Nodes: []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole}}}
	for range workers {
		c.Nodes = append(c.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole})
	}
	return c
}

// importer returns the kube provider's image import for the kind cluster
// name: the archive is streamed into the node's containerd, as `kind load
// image-archive` does. Kubernetes node names are kind's node names.
func importer(p *cluster.Provider, name string) kube.ImportFunc {
	return func(_ context.Context, node, archive string) error {
		nodes, err := p.ListInternalNodes(name)
		if err != nil {
			return kindError("list nodes of kind cluster "+name, err)
		}
		for _, n := range nodes {
			if n.String() != node {
				continue
			}
			f, err := os.Open(archive)
			if err != nil {
				return fmt.Errorf("load image archive: %w", err)
			}
			defer f.Close()
			if err := nodeutils.LoadImageArchive(n, f); err != nil {
				return kindError("load image archive into kind node "+node, err)
			}
			return nil
		}
		return fmt.Errorf("kind cluster %s has no node %s", name, node)
	}
}

// waitWorkers waits until the cluster has workers schedulable nodes (ready,
// without a taint that keeps pods away) and its service account controller
// runs: kind waits for the control plane only, and pods are refused in a
// namespace before its default service account exists. API errors are
// retried until the wait ends; the last one is reported then. Nodes not
// ready within timeout are an error wrapping clusters.ErrConfig (a
// node image that cannot run here); a cancelled ctx returns its error.
func waitWorkers(parent context.Context, client kubernetes.Interface, workers int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	ready, sa := 0, false
	var last error
	for {
		list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			ready = schedulable(list.Items)
			_, err = client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
			sa = err == nil
		}
		if ready >= workers && sa {
			return nil
		}
		if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			why := ""
			if last != nil {
				why = fmt.Sprintf(" (last API error: %v)", last)
			}
			if parent.Err() != nil {
				return parent.Err()
			}
			return configErrorf("the kind nodes did not become ready within %v (%d of %d workers schedulable, default service account created: %t%s): look at the nodes' logs (docker logs, docker exec NODE journalctl -u kubelet), or use another --kind-image",
				timeout, ready, workers, sa, why)
		case <-time.After(pollEvery):
		}
	}
}

// schedulable counts the nodes that are ready and carry no taint that
// keeps pods away: the workers, once kubelet and the CNI run.
func schedulable(nodes []corev1.Node) int {
	n := 0
	for _, node := range nodes {
		ready := false
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ready = c.Status == corev1.ConditionTrue
			}
		}
		for _, t := range node.Spec.Taints {
			if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
				ready = false
			}
		}
		if ready && !node.Spec.Unschedulable {
			n++
		}
	}
	return n
}

// Cluster is the case's cluster (the kube provider's) in a kind cluster of
// its own, or, once the provider keeps them, in one an earlier case of the
// run made.
type Cluster struct {
	// Its methods (Start, StartHost, the clusters.Roller ones) are the
	// kind cluster's.
	*kube.Cluster
	kind *cluster.Provider
	eng  engine
	name string
	// dir holds the kubeconfig.
	dir string
	// workers is the kind cluster's worker count; kube the kube provider
	// in it, which remembers the nodes that have the image.
	workers  int
	kube     *kube.Provider
	provider *Provider

	mu      sync.Mutex
	deleted bool
}

// Keep makes the provider keep a case's kind cluster, once the case's
// namespace is deleted, for the next case with as many nodes: the run pays
// for a kind cluster per size (and per case of a point that runs
// interleaved), not per case. Close deletes the kept clusters.
func (p *Provider) Keep() {
	p.keepMu.Lock()
	p.keep = true
	p.keepMu.Unlock()
}

// kept takes a kept kind cluster of workers workers, or returns nil.
func (p *Provider) kept(workers int) *Cluster {
	p.keepMu.Lock()
	defer p.keepMu.Unlock()
	for i, c := range p.idle {
		if c.workers == workers {
			p.idle = slices.Delete(p.idle, i, i+1)
			return c
		}
	}
	return nil
}

// release keeps c for a later case when the provider keeps clusters, and
// reports whether it did.
func (p *Provider) release(c *Cluster) bool {
	p.keepMu.Lock()
	defer p.keepMu.Unlock()
	if !p.keep {
		return false
	}
	p.idle = append(p.idle, c)
	return true
}

// Close deletes the kind clusters the provider kept. It is idempotent.
func (p *Provider) Close(context.Context) error {
	p.keepMu.Lock()
	idle := p.idle
	p.idle = nil
	p.keepMu.Unlock()
	var errs []error
	for _, c := range idle {
		errs = append(errs, c.deleteKind())
	}
	return errors.Join(errs...)
}

// kubeconfig is the path of the kind cluster's kubeconfig.
func (c *Cluster) kubeconfig() string { return filepath.Join(c.dir, kubeconfigFile) }

// Delete deletes the case's namespace, which also ends the processes
// started in it, and then the kind cluster, unless the provider keeps it
// for a later case (Keep) and the namespace is gone. Once the kind
// cluster is gone the namespace is gone with it, so only the kind
// cluster's deletion can fail Delete. It is idempotent.
func (c *Cluster) Delete(ctx context.Context) error {
	c.mu.Lock()
	deleted := c.deleted
	c.mu.Unlock()
	if deleted || c.Cluster == nil {
		return nil
	}
	err := c.Cluster.Delete(ctx)
	c.mu.Lock()
	c.Cluster = nil
	c.mu.Unlock()
	if err == nil && c.provider.release(&Cluster{kind: c.kind, eng: c.eng, name: c.name, dir: c.dir, workers: c.workers, kube: c.kube, provider: c.provider}) {
		return nil
	}
	return c.deleteKind()
}

// deleteKind deletes the kind cluster, whatever ctx says (the kind library
// takes none; a cluster left behind costs more than the wait), kind's
// network when no kind cluster is left, and the kubeconfig's directory.
func (c *Cluster) deleteKind() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.deleted {
		return nil
	}
	if err := c.kind.Delete(c.name, c.kubeconfig()); err != nil {
		return kindError("delete kind cluster "+c.name, err)
	}
	c.deleted = true
	nerr := c.eng.removeNetwork(c.kind)
	if err := os.RemoveAll(c.dir); err != nil {
		return errors.Join(nerr, fmt.Errorf("remove kubeconfig of kind cluster %s: %w", c.name, err))
	}
	return nerr
}

// kindError names the action and adds the end of the output of the
// command kind ran, which kind's errors leave out.
func kindError(action string, err error) error {
	re := kindexec.RunErrorForError(err)
	if re == nil || len(re.Output) == 0 {
		return fmt.Errorf("%s: %w", action, err)
	}
	lines := strings.Split(strings.TrimSpace(string(re.Output)), "\n")
	return fmt.Errorf("%s: %w: %s", action, err, strings.Join(lines[max(0, len(lines)-3):], " | "))
}
