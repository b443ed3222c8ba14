package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/datapaths"
)

// spare is a cluster whose case is done, kept for a later case of the same
// layout.
type spare struct {
	layout  string
	cluster clusters.Cluster
	reuse   clusters.Reusable
}

// layout identifies what a cluster of spec holds apart from its run id and
// its datapath's injection: nodes, address ranges, services and where
// their pods are. Clusters of one layout can stand in for each other.
func layout(spec clusters.Spec) string {
	spec.RunID, spec.Inject = "", clusters.Injection{}
	return fmt.Sprintf("%+v", spec)
}

// cluster gets the case's cluster for spec with the datapath's injection
// (its containers, and its own services added to the workloads'): a spare
// of the same layout, given the injection, when there is one, else a new
// one.
func (r *Runner) cluster(ctx context.Context, cr *caseRun, spec clusters.Spec) (clusters.Cluster, error) {
	st := r.opts.Status
	base := spec
	spec.Inject = injection(base, cr.dp)
	spec.Services = append(slices.Clip(base.Services), spec.Inject.Services...)
	cr.layout = layout(spec)
	pods := 0
	for _, s := range spec.Services {
		pods += len(s.PodNodes)
	}
	if i := slices.IndexFunc(r.spares, func(s spare) bool { return s.layout == cr.layout }); i >= 0 {
		sp := r.spares[i]
		r.spares = slices.Delete(r.spares, i, i+1)
		name := sp.cluster.Topology().Name
		st.Start(fmt.Sprintf("Reusing cluster %s (%d nodes, %d pods)", name, spec.Nodes, pods))
		// The datapath names what it adds after the cluster's run id.
		base.RunID = sp.cluster.Topology().RunID
		err := sp.reuse.Inject(ctx, injection(base, cr.dp))
		st.End(err == nil)
		if err == nil {
			cr.reused = true
			return sp.cluster, nil
		}
		st.Infof("cannot reuse cluster %s, creating a new one: %v", name, err)
		r.delete(ctx, sp.cluster, nil)
	}
	st.Start(fmt.Sprintf("Creating cluster (%d nodes, %d pods)", spec.Nodes, pods))
	c, err := r.opts.Provider.Create(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("create cluster: %w", err)
	}
	return c, nil
}

// injection is what dp adds to a cluster of spec.
func injection(spec clusters.Spec, dp datapaths.Datapath) clusters.Injection {
	if inj, ok := dp.(datapaths.Injector); ok {
		return inj.Injection(spec)
	}
	return clusters.Injection{}
}

// keep keeps the cluster of a case that succeeded, its datapath
// uninstalled, as a spare when the run reuses clusters, the cluster can be
// reused, and nothing of the case is left in it; it reports whether it
// kept it.
func (r *Runner) keep(ctx context.Context, cr *caseRun) bool {
	re, ok := cr.cluster.(clusters.Reusable)
	if !r.opts.ReuseClusters || !ok || cr.err != nil || enrolling(cr.c) {
		// An enrolment replaced the cluster's pods: it is not as made.
		return false
	}
	st := r.opts.Status
	st.Start("Checking that datapath " + cr.c.Datapath + " left nothing in the cluster")
	left, err := re.Residue(ctx)
	if err == nil && len(left) > 0 {
		err = fmt.Errorf("it left %s", strings.Join(left, ", "))
	}
	st.End(err == nil)
	if err != nil {
		st.Infof("not reusing cluster %s: %v", cr.cluster.Topology().Name, err)
		return false
	}
	r.spares = append(r.spares, spare{layout: cr.layout, cluster: cr.cluster, reuse: re})
	return true
}

// dropSpares deletes the spare clusters, also after Ctrl-C.
func (r *Runner) dropSpares(ctx context.Context) {
	spares := r.spares
	r.spares = nil
	for _, sp := range spares {
		r.delete(ctx, sp.cluster, nil)
	}
}

// closeKept deletes the nodes the provider kept for the run's cases, with a
// context of its own, so that it also runs after Ctrl-C.
func (r *Runner) closeKept(ctx context.Context, k clusters.Keeper) {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
	defer cancel()
	st := r.opts.Status
	st.Start("Deleting the nodes kept for the run's cases")
	err := k.Close(tctx)
	st.End(err == nil)
	if err != nil {
		st.Infof("teardown: %v (run `meshbench cleanup --run %s` to remove what is left)", err, r.opts.RunID)
	}
}

// delete deletes a cluster with a context of its own, so that it also
// runs after Ctrl-C, and says what may be left if it or the uninstall
// before it (uerr) failed.
func (r *Runner) delete(ctx context.Context, c clusters.Cluster, uerr error) {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), teardownTimeout)
	defer cancel()
	st := r.opts.Status
	st.Start("Deleting cluster")
	err := errors.Join(uerr, c.Delete(tctx))
	st.End(err == nil)
	if err != nil {
		st.Infof("teardown: %v (run `meshbench cleanup --run %s` to remove what is left)", err, r.opts.RunID)
	}
}
