package kubenode

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

var testInjection = Injection{
	InitContainers: []json.RawMessage{json.RawMessage(`{"name":"mesh-init","image":"i"}`)},
	Containers:     []json.RawMessage{json.RawMessage(`{"name":"sidecar","image":"i"}`)},
}

// review posts an AdmissionReview for pod to the injector and returns its
// response.
func review(t *testing.T, h http.Handler, pod string) admissionResponse {
	t.Helper()
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","name":"p","namespace":"n","object":` + pod + `}}`
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, InjectPath, strings.NewReader(body)))
	var out admissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("response %d %q: %v", rec.Code, rec.Body, err)
	}
	if out.Response.UID != "u-1" || out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" {
		t.Errorf("response %+v does not answer the review", out)
	}
	return *out.Response
}

// The patch, applied to the pod, adds the sidecar's containers and the
// annotation, wherever the pod's lists and annotations start from; a pod
// that has them already is left alone.
func TestInjectorPatch(t *testing.T) {
	h := injectorHandler(testInjection, slog.New(slog.DiscardHandler))
	tests := []struct {
		name, pod string
		want      string // the pod after the patch; "" for no patch
	}{
		{"bare pod",
			`{"metadata":{"name":"p"},"spec":{"containers":[{"name":"app"}]}}`,
			`{"metadata":{"name":"p","annotations":{"meshbench.dev/injected":"webhook"}},"spec":{"containers":[{"name":"app"},{"name":"sidecar","image":"i"}],"initContainers":[{"name":"mesh-init","image":"i"}]}}`},
		{"init containers and annotations present",
			`{"metadata":{"annotations":{"a":"b"}},"spec":{"initContainers":[{"name":"setup"}],"containers":[{"name":"app"}]}}`,
			`{"metadata":{"annotations":{"a":"b","meshbench.dev/injected":"webhook"}},"spec":{"initContainers":[{"name":"setup"},{"name":"mesh-init","image":"i"}],"containers":[{"name":"app"},{"name":"sidecar","image":"i"}]}}`},
		{"injected already",
			`{"spec":{"initContainers":[{"name":"mesh-init"}],"containers":[{"name":"app"},{"name":"sidecar"}]}}`,
			""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := review(t, h, tt.pod)
			if !resp.Allowed {
				t.Fatalf("not allowed: %+v", resp.Result)
			}
			if tt.want == "" {
				if resp.Patch != nil || resp.PatchType != "" {
					t.Errorf("patch %s, want none", resp.Patch)
				}
				return
			}
			if resp.PatchType != "JSONPatch" {
				t.Errorf("patch type %q, want JSONPatch", resp.PatchType)
			}
			p, err := jsonpatch.DecodePatch(resp.Patch)
			if err != nil {
				t.Fatalf("decode patch %s: %v", resp.Patch, err)
			}
			got, err := p.Apply([]byte(tt.pod))
			if err != nil {
				t.Fatalf("apply patch %s: %v", resp.Patch, err)
			}
			var g, w any
			json.Unmarshal(got, &g)
			json.Unmarshal([]byte(tt.want), &w)
			if !reflect.DeepEqual(g, w) {
				t.Errorf("patched pod\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// A review the injector cannot read is refused, not admitted unmeshed.
func TestInjectorRefusesBadInput(t *testing.T) {
	h := injectorHandler(testInjection, slog.New(slog.DiscardHandler))
	if resp := review(t, h, `"not a pod"`); resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusBadRequest {
		t.Errorf("review of a string: %+v, want refused with 400", resp)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, InjectPath, bytes.NewReader([]byte("{"))))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("broken JSON: status %d, want 400", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, HealthzPath, nil))
	if body, _ := io.ReadAll(rec.Body); rec.Code != http.StatusOK || string(body) != "ok" {
		t.Errorf("healthz: %d %q", rec.Code, body)
	}
}

func TestInjectorOptionsArgsRoundTrip(t *testing.T) {
	o := InjectorOptions{Dir: "/etc/injector", Listen: ":9443"}
	args := o.Args()
	if args[0] != "agent" || args[1] != InjectorRole {
		t.Fatalf("Args() = %q, want \"agent\" %q first", args, InjectorRole)
	}
	got, err := parseInjectorOptions(args[2:], io.Discard)
	if err != nil || got != o {
		t.Errorf("parse(%q) = %+v, %v; want %+v", args, got, err, o)
	}
	if _, err := parseInjectorOptions(nil, io.Discard); err == nil {
		t.Error("parse without -dir = nil, want an error")
	}
}
