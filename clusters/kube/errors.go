package kube

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ErrConfig is wrapped by every error that the user must fix in the
// configuration: kubeconfig, cluster reachability, permissions, nodes, the
// image. The command line exits with code 2 on it.
var ErrConfig = errors.New("kube provider configuration")

// configError is a configuration error: its message is the sentence the
// user reads; errors.Is finds both ErrConfig and the cause.
type configError struct{ err error }

func (e configError) Error() string   { return e.err.Error() }
func (e configError) Unwrap() []error { return []error{e.err, ErrConfig} }

func configErrorf(format string, args ...any) error {
	return configError{fmt.Errorf(format, args...)}
}

// apiError turns an API error of action into one sentence, wrapping
// ErrConfig when it is the configuration's fault (credentials, RBAC) or the
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
