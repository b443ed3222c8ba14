package kube

import (
	"context"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// permissions are what a run does in the cluster. Namespaced resources are
// checked in all namespaces: the run's namespace does not exist yet.
var permissions = []authorizationv1.ResourceAttributes{
	{Verb: "list", Resource: "nodes"},
	{Verb: "create", Resource: "namespaces"},
	{Verb: "list", Resource: "namespaces"},
	{Verb: "get", Resource: "namespaces"},
	{Verb: "delete", Resource: "namespaces"},
	{Verb: "create", Resource: "services"},
	{Verb: "create", Resource: "pods"},
	{Verb: "list", Resource: "pods"},
	{Verb: "create", Resource: "pods", Subresource: "exec"},
	{Verb: "create", Group: "apps", Resource: "daemonsets"},
	// A datapath's own services (waypoints).
	{Verb: "create", Group: "apps", Resource: "deployments"},
	{Verb: "list", Resource: "events"},
	{Verb: "list", Group: "discovery.k8s.io", Resource: "endpointslices"},
}

// enrolPermissions are what an enrolment does besides (clusters.Roller):
// it labels the namespace and pods, replaces pods and adds ephemeral
// containers to the running ones.
var enrolPermissions = []authorizationv1.ResourceAttributes{
	{Verb: "patch", Resource: "namespaces"},
	{Verb: "get", Resource: "pods"},
	{Verb: "patch", Resource: "pods"},
	{Verb: "delete", Resource: "pods"},
	{Verb: "update", Resource: "pods", Subresource: "ephemeralcontainers"},
}

// checkAccess asks the API server whether the kubeconfig's user may do
// everything in permissions; what is missing is a configuration error.
func checkAccess(ctx context.Context, client kubernetes.Interface) error {
	return checkPermissions(ctx, client, permissions, "")
}

// checkPermissions asks the API server whether the kubeconfig's user may
// do everything in perms; what is missing is a configuration error, whose
// sentence names purpose when given.
func checkPermissions(ctx context.Context, client kubernetes.Interface, perms []authorizationv1.ResourceAttributes, purpose string) error {
	var denied []string
	for _, attr := range perms {
		review := &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attr},
		}
		got, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return apiError("check permissions", err)
		}
		if !got.Status.Allowed {
			denied = append(denied, attr.Verb+" "+resourceName(attr))
		}
	}
	if len(denied) > 0 {
		if purpose != "" {
			purpose = " to " + purpose
		}
		return configErrorf("the kubeconfig's user may not %s (RBAC)%s: grant it these permissions or use a kubeconfig with more rights",
			strings.Join(denied, ", "), purpose)
	}
	return nil
}

func resourceName(a authorizationv1.ResourceAttributes) string {
	if a.Subresource != "" {
		return fmt.Sprintf("%s/%s", a.Resource, a.Subresource)
	}
	return a.Resource
}
