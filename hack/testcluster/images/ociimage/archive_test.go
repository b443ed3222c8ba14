package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

func TestTag(t *testing.T) {
	for _, tc := range []struct{ ref, want string }{
		{"registry.k8s.io/pause:3.10", "3.10"},
		{"localhost:5000/echo", "latest"},
		{"echo", "latest"},
		{"localhost:5000/echo:v1", "v1"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			if got := tag(tc.ref); got != tc.want {
				t.Errorf("tag(%q) = %q, want %q", tc.ref, got, tc.want)
			}
		})
	}
}

// TestWrite follows the archive from index.json to the layer, checking
// every digest on the way, as containerd's importer does.
func TestWrite(t *testing.T) {
	img := Image{
		Name:       "registry.k8s.io/pause:3.10",
		Arch:       "amd64",
		Entrypoint: []string{"/pause"},
		Files:      []File{{Path: "pause", Mode: 0o755, Data: []byte("\x7fELF")}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, img); err != nil {
		t.Fatalf("Write: %v", err)
	}
	files := untar(t, buf.Bytes())

	var idx index
	decode(t, files["index.json"], &idx)
	if len(idx.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(idx.Manifests))
	}
	md := idx.Manifests[0]
	if got := md.Annotations["io.containerd.image.name"]; got != img.Name {
		t.Errorf("image name annotation = %q, want %q", got, img.Name)
	}
	var man manifest
	decode(t, blob(t, files, md), &man)
	var cfg config
	decode(t, blob(t, files, man.Config), &cfg)
	if len(man.Layers) != 1 || len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != man.Layers[0].Digest {
		t.Fatalf("layers %v and diff_ids %v do not match", man.Layers, cfg.RootFS.DiffIDs)
	}
	if got := cfg.Config.Entrypoint; len(got) != 1 || got[0] != "/pause" {
		t.Errorf("entrypoint = %q, want [/pause]", got)
	}
	layer := untar(t, blob(t, files, man.Layers[0]))
	if got := string(layer["pause"]); got != "\x7fELF" {
		t.Errorf("layer file pause = %q, want the input bytes", got)
	}

	var again bytes.Buffer
	if err := Write(&again, img); err != nil {
		t.Fatalf("Write again: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two archives of the same image differ, want identical bytes")
	}
}

func untar(tb testing.TB, b []byte) map[string][]byte {
	tb.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			tb.Fatalf("read tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatalf("read %s: %v", hdr.Name, err)
		}
		files[hdr.Name] = data
	}
}

func blob(tb testing.TB, files map[string][]byte, d descriptor) []byte {
	tb.Helper()
	data, ok := files["blobs/sha256/"+d.Digest[len("sha256:"):]]
	if !ok {
		tb.Fatalf("blob %s missing", d.Digest)
	}
	if got := digest(data); got != d.Digest || int64(len(data)) != d.Size {
		tb.Fatalf("blob %s: digest %s size %d, want size %d", d.Digest, got, len(data), d.Size)
	}
	return data
}

func decode(tb testing.TB, b []byte, v any) {
	tb.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("decode %s: %v", b, err)
	}
}
