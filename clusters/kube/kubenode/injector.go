package kubenode

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// InjectorRole is the sidecar injector: a mutating admission webhook, as
// a mesh's injector is, served over TLS in a pod of the run. The API
// server calls it for every pod its MutatingWebhookConfiguration selects,
// and it answers with a JSON patch that adds the sidecar's containers.
const InjectorRole = "kube-injector"

// Files the injector reads from its directory (a mounted Secret).
const (
	InjectorCertFile  = "tls.crt"
	InjectorKeyFile   = "tls.key"
	InjectorPatchFile = "inject.json"
)

// Paths the injector serves.
const (
	InjectPath  = "/inject"
	HealthzPath = "/healthz"
)

// InjectedAnnotation marks a pod the injector patched; its value is
// "webhook".
const InjectedAnnotation = "meshbench.dev/injected"

// Injection is what the injector adds to a pod, in the API's JSON form:
// corev1.Container objects, rendered by the provider.
type Injection struct {
	InitContainers []json.RawMessage `json:"initContainers,omitempty"`
	Containers     []json.RawMessage `json:"containers,omitempty"`
}

// InjectorOptions are the injector role's flags.
type InjectorOptions struct {
	// Dir holds InjectorCertFile, InjectorKeyFile and InjectorPatchFile.
	Dir string
	// Listen is the address of the HTTPS listener.
	Listen string
}

// Args renders the arguments of the meshbench executable that run the
// injector role with o.
func (o InjectorOptions) Args() []string {
	return []string{"agent", InjectorRole, "-dir", o.Dir, "-listen", o.Listen}
}

func parseInjectorOptions(args []string, stderr io.Writer) (InjectorOptions, error) {
	var o InjectorOptions
	fs := flag.NewFlagSet(InjectorRole, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Dir, "dir", "", "`directory` with "+InjectorCertFile+", "+InjectorKeyFile+" and "+InjectorPatchFile)
	fs.StringVar(&o.Listen, "listen", ":8443", "`address` of the HTTPS listener")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	}
	if o.Dir == "" {
		return o, errors.New("parse flags: -dir is required")
	}
	return o, nil
}

// Injector runs the injector role until ctx ends.
func Injector(ctx context.Context, args []string, _ io.Reader, _, stderr io.Writer) error {
	o, err := parseInjectorOptions(args, stderr)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(o.Dir, InjectorCertFile), filepath.Join(o.Dir, InjectorKeyFile))
	if err != nil {
		return fmt.Errorf("load the serving certificate: %w", err)
	}
	raw, err := os.ReadFile(filepath.Join(o.Dir, InjectorPatchFile))
	if err != nil {
		return fmt.Errorf("read the injection: %w", err)
	}
	var inj Injection
	if err := json.Unmarshal(raw, &inj); err != nil {
		return fmt.Errorf("read the injection %s: %w", InjectorPatchFile, err)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv := &http.Server{
		Handler:           injectorHandler(inj, log),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// injectorHandler serves the admission reviews on InjectPath and a health
// check on HealthzPath.
func injectorHandler(inj Injection, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+HealthzPath, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("POST "+InjectPath, func(w http.ResponseWriter, r *http.Request) {
		var review admissionReview
		if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "want an AdmissionReview with a request", http.StatusBadRequest)
			return
		}
		req := review.Request
		resp := &admissionResponse{UID: req.UID, Allowed: true}
		patch, err := inj.patch(req.Object)
		switch {
		case err != nil:
			// Refuse rather than admit the pod unmeshed: the
			// configuration's failurePolicy does not apply to answers.
			resp.Allowed = false
			resp.Result = &status{Code: http.StatusBadRequest, Message: err.Error()}
		case patch != nil:
			resp.PatchType = "JSONPatch"
			resp.Patch = patch
		}
		log.Info("admission review", "pod", req.Namespace+"/"+req.Name, "allowed", resp.Allowed, "patched", patch != nil, "err", err)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(admissionReview{APIVersion: review.APIVersion, Kind: review.Kind, Response: resp})
	})
	return mux
}

// admissionReview is the part of admission.k8s.io/v1 AdmissionReview the
// injector reads and writes.
type admissionReview struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Request    *admissionRequest  `json:"request,omitempty"`
	Response   *admissionResponse `json:"response,omitempty"`
}

type admissionRequest struct {
	UID       string          `json:"uid"`
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	Object    json.RawMessage `json:"object"`
}

type admissionResponse struct {
	UID       string  `json:"uid"`
	Allowed   bool    `json:"allowed"`
	Result    *status `json:"status,omitempty"`
	PatchType string  `json:"patchType,omitempty"`
	Patch     []byte  `json:"patch,omitempty"` // base64 in JSON, as the API wants
}

type status struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// patch is the JSON patch that adds inj to the pod object, or nil for a
// pod that already has every container of inj (a reinvocation).
func (inj Injection) patch(object json.RawMessage) ([]byte, error) {
	var pod struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			InitContainers []struct {
				Name string `json:"name"`
			} `json:"initContainers"`
			Containers []struct {
				Name string `json:"name"`
			} `json:"containers"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(object, &pod); err != nil {
		return nil, fmt.Errorf("read the pod: %w", err)
	}
	var have []string
	for _, c := range pod.Spec.InitContainers {
		have = append(have, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		have = append(have, c.Name)
	}
	var ops []patchOp
	add := func(list string, cs []json.RawMessage, existing int) error {
		for _, raw := range cs {
			var c struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(raw, &c); err != nil || c.Name == "" {
				return fmt.Errorf("injection: a container without a name in %s", list)
			}
			if slices.Contains(have, c.Name) {
				continue
			}
			if existing == 0 {
				ops = append(ops, patchOp{"add", "/spec/" + list, []json.RawMessage{raw}})
			} else {
				ops = append(ops, patchOp{"add", "/spec/" + list + "/-", raw})
			}
			existing++
		}
		return nil
	}
	if err := add("initContainers", inj.InitContainers, len(pod.Spec.InitContainers)); err != nil {
		return nil, err
	}
	if err := add("containers", inj.Containers, len(pod.Spec.Containers)); err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, nil
	}
	if pod.Metadata.Annotations == nil {
		ops = append(ops, patchOp{"add", "/metadata/annotations", map[string]string{InjectedAnnotation: "webhook"}})
	} else {
		ops = append(ops, patchOp{"add", "/metadata/annotations/" + escapePointer(InjectedAnnotation), "webhook"})
	}
	return json.Marshal(ops)
}

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
