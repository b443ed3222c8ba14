package kube

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/clusters/kube/kubenode"
)

// Inject modes: how a datapath's pod containers (the sidecar's) get into
// the pods.
const (
	// InjectWebhook has the API server call a mutating admission webhook
	// that meshbench serves in the run's namespace during the run, as a
	// mesh's injector is: a pod the webhook's selectors skip comes up
	// without a sidecar.
	InjectWebhook = "webhook"
	// InjectDirect writes the containers into the pod objects meshbench
	// creates.
	InjectDirect = "direct"
)

// InjectLabel is the pod label the injector's objectSelector looks at:
// "false" keeps the webhook away from the pod, as Istio's
// sidecar.istio.io/inject does; on the run's namespace it is the default
// of pods without it (clusters.Injected).
const InjectLabel = clusters.InjectLabel

const (
	injectorName = "meshbench-injector"
	// injectorPort is the injector's HTTPS port in its pod and Service.
	injectorPort = 8443
	// injectorDir is where the injector's Secret is mounted.
	injectorDir = "/etc/meshbench-injector"
	// webhookTimeout bounds each call of the API server to the injector.
	webhookTimeout = 10
	// certValidity is the injector certificate's lifetime; a run's cluster
	// lives far shorter.
	certValidity = 24 * time.Hour
)

// webhookPermissions are what the webhook injection adds to permissions.
var webhookPermissions = []authorizationv1.ResourceAttributes{
	{Verb: "create", Resource: "secrets"},
	{Verb: "create", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"},
	{Verb: "list", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"},
	{Verb: "delete", Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"},
}

// webhookName is the name of the cluster's MutatingWebhookConfiguration;
// cluster scoped, it carries the run label like the namespace.
func webhookName(runID string) string { return "meshbench-" + runID + "-injector" }

// startInjector runs the injector that adds inject to the cluster's pods
// and registers it with the API server: the serving certificate and the
// injection in a Secret, the injector's pod and Service, and a
// MutatingWebhookConfiguration selecting the run's namespace and, in it,
// the workload pods not labelled InjectLabel=false, with failurePolicy.
// It returns once the injector is a ready endpoint of its Service, which
// the API server calls it through.
func (c *Cluster) startInjector(ctx context.Context, runID string, img image, inject []clusters.Container, policy admissionregistrationv1.FailurePolicyType, timeout time.Duration) error {
	core := c.client.CoreV1()
	ns := c.topo.Name
	caPEM, certPEM, keyPEM, err := servingCert(injectorName + "." + ns + ".svc")
	if err != nil {
		return fmt.Errorf("injector certificate: %w", err)
	}
	patch, err := injectionJSON(runID, img, inject)
	if err != nil {
		return err
	}
	labels := map[string]string{RunLabel: runID, AppLabel: injectorName}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: injectorName, Namespace: ns, Labels: labels},
		Data: map[string][]byte{
			kubenode.InjectorCertFile:  certPEM,
			kubenode.InjectorKeyFile:   keyPEM,
			kubenode.InjectorPatchFile: patch,
		},
	}
	if _, err := core.Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return apiError("create the injector's secret", err)
	}
	node := c.topo.Nodes[0].Name
	if _, err := core.Pods(ns).Create(ctx, injectorPod(ns, labels, node, img), metav1.CreateOptions{}); err != nil {
		return apiError("create the injector's pod", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: injectorName, Namespace: ns, Labels: labels},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{AppLabel: injectorName},
			Ports:    []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(injectorPort)}},
		},
	}
	if _, err := core.Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return apiError("create the injector's service", err)
	}
	if _, err := waitRunning(ctx, c.client, ns, map[string]string{injectorName: node}, timeout); err != nil {
		return fmt.Errorf("sidecar injector: %w", err)
	}
	if err := waitEndpoints(ctx, c.client, ns, map[string]int{injectorName: 1}, max(timeout, endpointsMinWait)); err != nil {
		return fmt.Errorf("sidecar injector: %w", err)
	}
	owner, err := core.Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return apiError("read namespace "+ns, err)
	}
	cfg := webhookObject(runID, owner, caPEM, policy)
	if _, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		return apiError("register the sidecar injector (MutatingWebhookConfiguration "+cfg.Name+")", err)
	}
	c.webhook = cfg.Name
	return c.waitWebhook(ctx, runID, img, timeout)
}

// waitWebhook waits at most timeout until the API server's calls reach the
// injector: a dry-run creation of a workload pod comes back injected. The
// Service's endpoints are ready before, but the cluster's service proxy
// may not route to them yet (kube-proxy refuses a service it has no
// endpoints for), and the pods must not be created before.
func (c *Cluster) waitWebhook(ctx context.Context, runID string, img image, timeout time.Duration) error {
	tctx, cancel := context.WithTimeout(ctx, max(timeout, endpointsMinWait))
	defer cancel()
	// Labelled in: the webhooks select it whatever the namespace's label.
	probe := podObject(runID, clusters.ServiceSpec{Name: injectorName + "-probe", TargetPort: 1, Role: "probe",
		PodLabels: map[string]string{InjectLabel: "true"}}, 0, c.topo.Nodes[0].Name, img, nil)
	var last error
	for {
		got, err := c.client.CoreV1().Pods(c.topo.Name).Create(tctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		switch {
		case err == nil && got.Annotations[kubenode.InjectedAnnotation] == "webhook":
			return nil
		case err == nil:
			last = fmt.Errorf("a dry-run pod came back without the injector's patch")
		case strings.Contains(err.Error(), "failed calling webhook"):
			last = err
		case tctx.Err() == nil:
			return apiError("create a dry-run pod to reach the sidecar injector", err)
		}
		select {
		case <-tctx.Done():
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("wait for the sidecar injector: %w", err)
			}
			return configErrorf("the API server did not reach the sidecar injector webhook within %s: check that it reaches pods and services of the cluster (kube-proxy, or --enable-aggregator-routing), or use --inject direct: %w", max(timeout, endpointsMinWait), last)
		case <-time.After(pollEvery):
		}
	}
}

// injectionJSON renders the containers of inject as the injector adds them
// to a pod: the same containers podObject writes with direct injection.
func injectionJSON(runID string, img image, inject []clusters.Container) ([]byte, error) {
	withSidecar := podObject(runID, clusters.ServiceSpec{Name: "x", TargetPort: 1}, 0, "n", img, inject)
	var inj kubenode.Injection
	for _, list := range []struct {
		in  []corev1.Container
		out *[]json.RawMessage
	}{
		{withSidecar.Spec.InitContainers, &inj.InitContainers},
		{withSidecar.Spec.Containers[1:], &inj.Containers}, // after the app's
	} {
		for _, ct := range list.in {
			raw, err := json.Marshal(ct)
			if err != nil {
				return nil, fmt.Errorf("render injected container %s: %w", ct.Name, err)
			}
			*list.out = append(*list.out, raw)
		}
	}
	return json.Marshal(inj)
}

// injectorPod runs the injector on node, ready once it answers HTTPS.
func injectorPod(ns string, labels map[string]string, node string, img image) *corev1.Pod {
	no := false
	grace := int64(podTerminationGrace)
	opts := kubenode.InjectorOptions{Dir: injectorDir, Listen: fmt.Sprintf(":%d", injectorPort)}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: injectorName, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{
			Affinity:                      onNodes([]string{node}),
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:                     "injector",
				Image:                    img.ref,
				ImagePullPolicy:          img.policy,
				Command:                  append([]string{BinaryPath}, opts.Args()...),
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				Ports:                    []corev1.ContainerPort{{Name: "https", ContainerPort: injectorPort}},
				VolumeMounts:             []corev1.VolumeMount{{Name: "injector", MountPath: injectorDir, ReadOnly: true}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
						Path: kubenode.HealthzPath, Port: intstr.FromInt32(injectorPort), Scheme: corev1.URISchemeHTTPS,
					}},
					PeriodSeconds: 1,
				},
			}},
			Volumes: []corev1.Volume{{Name: "injector", VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: injectorName},
			}}},
		},
	}
}

// webhookObject is the run's MutatingWebhookConfiguration: pod creations
// in the run's namespace, of workload pods (those with RoleLabel; the node
// agents and the injector have none) that clusters.Injected injects, go
// to the injector's Service. As Istio's, it selects by labels alone, in
// two webhooks: in a namespace not labelled InjectLabel=false, the pods
// not labelled false; in one labelled false, the pods labelled true. So
// labelling the namespace, as a user enrolling it does, changes which pods
// the API server sends to the injector from then on. The namespace owns
// it, so that the garbage collector removes it with the namespace should
// meshbench not.
func webhookObject(runID string, owner *corev1.Namespace, caPEM []byte, policy admissionregistrationv1.FailurePolicyType) *admissionregistrationv1.MutatingWebhookConfiguration {
	none := admissionregistrationv1.SideEffectClassNone
	never := admissionregistrationv1.NeverReinvocationPolicy
	path := kubenode.InjectPath
	timeout := int32(webhookTimeout)
	port := int32(443)
	hook := func(name string, ns, pod metav1.LabelSelectorRequirement) admissionregistrationv1.MutatingWebhook {
		return admissionregistrationv1.MutatingWebhook{
			Name: name,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service:  &admissionregistrationv1.ServiceReference{Namespace: owner.Name, Name: injectorName, Path: &path, Port: &port},
				CABundle: caPEM,
			},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				},
			}},
			NamespaceSelector: &metav1.LabelSelector{
				MatchLabels:      map[string]string{RunLabel: runID},
				MatchExpressions: []metav1.LabelSelectorRequirement{ns},
			},
			ObjectSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: RoleLabel, Operator: metav1.LabelSelectorOpExists},
				pod,
			}},
			FailurePolicy:           &policy,
			SideEffects:             &none,
			ReinvocationPolicy:      &never,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}
	}
	notFalse := metav1.LabelSelectorRequirement{Key: InjectLabel, Operator: metav1.LabelSelectorOpNotIn, Values: []string{"false"}}
	isFalse := metav1.LabelSelectorRequirement{Key: InjectLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{"false"}}
	isTrue := metav1.LabelSelectorRequirement{Key: InjectLabel, Operator: metav1.LabelSelectorOpIn, Values: []string{"true"}}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{
			Name:   webhookName(runID),
			Labels: map[string]string{RunLabel: runID},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Namespace", Name: owner.Name, UID: owner.UID,
			}},
		},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			hook("namespace.inject.meshbench.dev", notFalse, notFalse),
			hook("pod.inject.meshbench.dev", isFalse, isTrue),
		},
	}
}

// checkInjected makes sure every pod that the webhook selects carries the
// injected containers: with failurePolicy Ignore a webhook the API server
// could not call admits the pods unmeshed.
func checkInjected(pods map[string]*corev1.Pod, ns map[string]string, inject []clusters.Container) error {
	var missing []string
	for name, pod := range pods {
		if pod.Labels[RoleLabel] == "" || !clusters.Injected(ns, pod.Labels) {
			continue
		}
		have := map[string]bool{}
		for _, ct := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			have[ct.Name] = true
		}
		for _, ct := range inject {
			if !have[ct.Name] {
				missing = append(missing, name)
				break
			}
		}
	}
	if len(missing) > 0 {
		return configErrorf("the sidecar injector did not inject pods %s: the API server could not call its webhook and failurePolicy Ignore admitted them; check that the API server reaches pods (kube-proxy, or --enable-aggregator-routing) or use --inject direct",
			strings.Join(missing, ", "))
	}
	return nil
}

// webhookError turns the API server's refusal to create a pod, because it
// could not call the injector (failurePolicy Fail), into a configuration
// error; other errors pass.
func webhookError(err error) error {
	if apierrors.IsInternalError(err) && strings.Contains(err.Error(), "failed calling webhook") {
		return configErrorf("the API server could not call the sidecar injector webhook: check that it reaches pods and services of the cluster (kube-proxy, or --enable-aggregator-routing), or use --inject direct: %w", err)
	}
	return err
}

// deleteWebhooks deletes the MutatingWebhookConfigurations of the run
// runID (every run's for an empty runID), found by RunLabel, and returns
// their names.
func deleteWebhooks(ctx context.Context, client kubernetes.Interface, runID string) ([]string, error) {
	api := client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	list, err := api.List(ctx, metav1.ListOptions{LabelSelector: RunLabel})
	if err != nil {
		return nil, apiError("list meshbench webhook configurations", err)
	}
	var names []string
	for _, w := range list.Items {
		if runID != "" && !clusters.ClusterOfRun(w.Labels[RunLabel], runID) {
			continue
		}
		if err := api.Delete(ctx, w.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, apiError("delete webhook configuration "+w.Name, err)
		}
		names = append(names, w.Name)
	}
	return names, nil
}

// servingCert makes a throwaway CA and a serving certificate for dnsName
// signed by it, in PEM.
func servingCert(dnsName string) (caPEM, certPEM, keyPEM []byte, err error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "meshbench injector CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: dnsName},
		DNSNames:     []string{dnsName},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
