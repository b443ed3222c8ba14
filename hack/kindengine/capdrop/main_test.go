package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSpecFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
		ok   bool
	}{
		{"create with bundle", []string{"--root", "/r", "--log", "/l", "create", "--bundle", "/b", "id"}, "/b/config.json", true},
		{"create bundle=", []string{"create", "--bundle=/b", "id"}, "/b/config.json", true},
		{"run in cwd", []string{"run", "id"}, "config.json", true},
		{"exec process", []string{"--root", "/r", "exec", "--process", "/p.json", "--detach", "id"}, "/p.json", true},
		{"exec short", []string{"exec", "-p", "/p.json", "id"}, "/p.json", true},
		{"exec without process", []string{"exec", "id", "sh"}, "", false},
		{"start", []string{"--root", "/r", "start", "id"}, "", false},
		{"global value looks like a command", []string{"--log-format", "json", "delete", "id"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := specFile(tc.args)
			if got != tc.want || ok != tc.ok {
				t.Errorf("specFile(%q) = %q, %t; want %q, %t", tc.args, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestBoundingSet(t *testing.T) {
	p := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(p, []byte("Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := boundingSet(p)
	if err != nil || got != 0x1fffeffffff {
		t.Errorf("boundingSet = %#x, %v; want 0x1fffeffffff", got, err)
	}
	if err := os.WriteFile(p, []byte("Name:\tx\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := boundingSet(p); err == nil {
		t.Error("boundingSet of a status without CapBnd: no error")
	}
}

// TestDropCaps drops CAP_SYS_RESOURCE (bit 24) from every set of a bundle
// config and of an exec process spec, and keeps everything else.
func TestDropCaps(t *testing.T) {
	const bounding = 0x1fffeffffff // all of 0..40 but 24
	all := []string{"CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_BPF", "CAP_NEW_ONE"}
	want := []string{"CAP_CHOWN", "CAP_BPF", "CAP_NEW_ONE"}
	sets := map[string][]string{"bounding": all, "effective": all, "permitted": all, "inheritable": all}
	for _, tc := range []struct {
		name string
		doc  map[string]any
		caps func(map[string]any) any
	}{
		{"config.json", map[string]any{"ociVersion": "1.0.2", "process": map[string]any{"args": []string{"/sbin/init"}, "capabilities": sets}, "hostname": "n"},
			func(d map[string]any) any { return d["process"].(map[string]any)["capabilities"] }},
		{"process.json", map[string]any{"args": []string{"sh"}, "capabilities": sets},
			func(d map[string]any) any { return d["capabilities"] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "spec.json")
			data, _ := json.Marshal(tc.doc)
			if err := os.WriteFile(p, data, 0o640); err != nil {
				t.Fatal(err)
			}
			if err := dropCaps(p, bounding); err != nil {
				t.Fatalf("dropCaps: %v", err)
			}
			var got map[string]any
			data, _ = os.ReadFile(p)
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			for name, v := range tc.caps(got).(map[string]any) {
				var caps []string
				for _, c := range v.([]any) {
					caps = append(caps, c.(string))
				}
				if !slices.Equal(caps, want) {
					t.Errorf("%s = %q, want %q", name, caps, want)
				}
			}
			if tc.name == "config.json" && got["hostname"] != "n" {
				t.Errorf("hostname = %v: the rest of the spec changed", got["hostname"])
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
			}
		})
	}
}

func TestDropCapsUnchanged(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	in := []byte(`{"process":{"args":["x"]},"z":1}`)
	if err := os.WriteFile(p, in, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := dropCaps(p, 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != string(in) {
		t.Errorf("spec without capabilities rewritten: %s", got)
	}
}
