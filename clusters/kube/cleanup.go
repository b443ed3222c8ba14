package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meshbench/meshbench/clusters"
)

// deleteTimeout bounds the wait for namespaces to be gone.
const deleteTimeout = 2 * time.Minute

// Cleanup deletes the namespaces of the run runID, found by RunLabel, and
// its sidecar injector's MutatingWebhookConfigurations, and waits until
// the namespaces are gone: those of a run killed before its teardown, or
// kept with --retain. A run gives each case's cluster the run's id
// followed by the case index (clusters.ClusterOfRun), so those namespaces
// go and no other run's. It returns a line for each namespace it deleted;
// with an error, none, as the namespaces may not be gone. Errors that mean
// the cluster cannot be reached or the kubeconfig's user may not list or
// delete namespaces wrap clusters.ErrConfig.
func (p *Provider) Cleanup(ctx context.Context, runID string) ([]string, error) {
	if !clusters.ValidRunID(runID) {
		return nil, fmt.Errorf("clean up run %q: want 8 lowercase hex digits", runID)
	}
	return p.cleanup(ctx, runID)
}

// CleanupAll deletes every meshbench namespace of the cluster, other
// people's live runs' too, as Cleanup does for one run.
func (p *Provider) CleanupAll(ctx context.Context) ([]string, error) {
	return p.cleanup(ctx, "")
}

// cleanup deletes the namespaces of the run runID, or every run's for an
// empty runID.
func (p *Provider) cleanup(ctx context.Context, runID string) ([]string, error) {
	lctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	list, err := p.client.CoreV1().Namespaces().List(lctx, metav1.ListOptions{LabelSelector: RunLabel})
	if err != nil {
		return nil, apiError("list meshbench namespaces", err)
	}
	var names []string
	for _, ns := range list.Items {
		if runID == "" || clusters.ClusterOfRun(ns.Labels[RunLabel], runID) {
			names = append(names, ns.Name)
		}
	}
	slices.Sort(names)
	webhooks, err := deleteWebhooks(lctx, p.client, runID)
	if err != nil {
		return nil, fmt.Errorf("clean up run %q: %w", runID, err)
	}
	if err := deleteNamespaces(ctx, p.client, names); err != nil {
		return nil, fmt.Errorf("clean up run %q: %w", runID, err)
	}
	var lines []string
	for _, name := range webhooks {
		lines = append(lines, "deleted webhook configuration "+name)
	}
	for _, name := range names {
		lines = append(lines, "deleted namespace "+name)
	}
	return lines, nil
}

// deleteNamespaces deletes the namespaces, their dependents first
// (foreground propagation), and waits at most deleteTimeout until the API
// server no longer has them. A namespace that is gone already is fine.
func deleteNamespaces(ctx context.Context, client kubernetes.Interface, names []string) error {
	ctx, cancel := context.WithTimeout(ctx, deleteTimeout)
	defer cancel()
	api := client.CoreV1().Namespaces()
	foreground := metav1.DeletePropagationForeground
	for _, name := range names {
		err := api.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &foreground})
		if err != nil && !apierrors.IsNotFound(err) {
			return apiError("delete namespace "+name, err)
		}
	}
	left := slices.Clone(names)
	for {
		var still []string
		var last *corev1.Namespace
		for _, name := range left {
			ns, err := api.Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				continue
			case err != nil && ctx.Err() == nil:
				return apiError("read namespace "+name, err)
			case err == nil:
				last = ns
			}
			still = append(still, name)
		}
		if len(still) == 0 {
			return nil
		}
		left = still
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespaces %s not gone yet%s: %w", strings.Join(left, ", "), terminating(last), ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// terminating says what holds up a namespace's deletion, as far as its
// status says.
func terminating(ns *corev1.Namespace) string {
	if ns == nil {
		return ""
	}
	var why []string
	for _, c := range ns.Status.Conditions {
		if c.Status == corev1.ConditionTrue {
			why = append(why, fmt.Sprintf("%s: %s", c.Type, c.Message))
		}
	}
	if len(why) == 0 {
		return fmt.Sprintf(" (%s is %s)", ns.Name, ns.Status.Phase)
	}
	return fmt.Sprintf(" (%s is %s: %s)", ns.Name, ns.Status.Phase, strings.Join(why, "; "))
}
