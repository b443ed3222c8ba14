package kube

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/meshbench/meshbench/clusters"
)

// configErrorf makes an error the user must fix in the configuration:
// kubeconfig, cluster reachability, permissions, nodes, the image. It
// wraps clusters.ErrConfig, on which the command line exits with code 2.
var configErrorf = clusters.ConfigErrorf

// apiError turns an API error of action into one sentence, wrapping
// clusters.ErrConfig when it is the configuration's fault (credentials, RBAC) or the
// cluster cannot be reached at all.
func apiError(action string, err error) error {
	switch {
	case apierrors.IsForbidden(err):
		return configErrorf("%s: forbidden by the cluster's RBAC: grant the kubeconfig's user that permission or use a kubeconfig with more rights: %w", action, err)
	case apierrors.IsUnauthorized(err):
		return configErrorf("%s: the cluster rejected the kubeconfig's credentials: %w", action, err)
	case isUnreachable(err):
		return configErrorf("%s: cannot reach the Kubernetes API server: check --kubeconfig and that the cluster is up: %w", action, err)
	}
	return fmt.Errorf("%s: %w", action, err)
}

// isUnreachable reports whether err came from the transport (refused,
// no route, timed out) rather than from the API server or a cancellation.
func isUnreachable(err error) bool {
	var status apierrors.APIStatus
	return !errors.As(err, &status) && !errors.Is(err, context.Canceled)
}
