package kube

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshbench/meshbench/clusters"
)

func TestStaticExecutable(t *testing.T) {
	text := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       string // architecture, or part of the error
		ok         bool
	}{
		{"static", staticBinary(t), "amd64", true},
		{"dynamic", "/bin/true", "dynamically linked", false},
		{"not elf", text, "not a Linux executable", false},
		{"missing", filepath.Join(t.TempDir(), "nope"), "not a Linux executable", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arch, err := StaticExecutable(tc.path)
			switch {
			case tc.ok && (err != nil || arch != tc.want):
				t.Errorf("got %q, %v; want %q", arch, err, tc.want)
			case !tc.ok && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, clusters.ErrConfig)):
				t.Errorf("got %q, %v; want a configuration error containing %q", arch, err, tc.want)
			}
		})
	}
}

func TestImage(t *testing.T) {
	exe := staticBinary(t)
	want, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Image(exe, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	tag, err := ArchiveTag(img)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "meshbench.tar")
	if err := WriteArchive(archive, tag, img); err != nil {
		t.Fatal(err)
	}
	back, err := tarball.ImageFromPath(archive, &tag)
	if err != nil {
		t.Fatalf("read the archive back: %v", err)
	}

	t.Run("round trip", func(t *testing.T) {
		d1, _ := img.Digest()
		d2, err := back.Digest()
		if err != nil || d1 != d2 {
			t.Errorf("digest after the archive: %v (%v), want %v", d2, err, d1)
		}
		if !strings.HasPrefix(tag.String(), ImageRepository+":") || !strings.HasPrefix(d1.Hex, tag.TagStr()) {
			t.Errorf("tag %s for digest %s", tag, d1)
		}
	})
	t.Run("config", func(t *testing.T) {
		cf, err := back.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS != "linux" || cf.Architecture != "amd64" || !slices.Equal(cf.Config.Entrypoint, []string{BinaryPath}) {
			t.Errorf("os %s arch %s entrypoint %q, want linux amd64 [%s]", cf.OS, cf.Architecture, cf.Config.Entrypoint, BinaryPath)
		}
	})
	t.Run("one layer with the binary", func(t *testing.T) {
		layers, err := back.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("layers: %d (%v), want 1", len(layers), err)
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		tr := tar.NewReader(rc)
		var files []string
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, hdr.Name)
			got, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if hdr.Mode != 0o755 || !bytes.Equal(got, want) {
				t.Errorf("%s: mode %o, %d bytes; want mode 755 and the executable's %d bytes", hdr.Name, hdr.Mode, len(got), len(want))
			}
		}
		if !slices.Equal(files, []string{"meshbench"}) {
			t.Errorf("layer files %q, want [meshbench]", files)
		}
	})
	t.Run("reproducible", func(t *testing.T) {
		again, err := Image(exe, "amd64")
		if err != nil {
			t.Fatal(err)
		}
		d1, _ := img.Digest()
		d2, _ := again.Digest()
		if d1 != d2 {
			t.Errorf("the same executable gave digests %s and %s", d1, d2)
		}
	})
}

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "a.tar")
	if err := os.WriteFile(archive, []byte("archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		argv    []string
		wantErr string // "" for success
		config  bool
	}{
		{name: "placeholders", argv: []string{"cp", "{archive}", filepath.Join(dir, "{node}.tar")}},
		{name: "fails", argv: []string{"cp", "{archive}", filepath.Join(dir, "missing", "{node}.tar")},
			wantErr: "cp " + archive + " " + filepath.Join(dir, "missing", "node-1.tar") + ": exit status 1: cp: cannot create regular file"},
		{name: "no archive", argv: []string{"ctr", "images", "import"}, wantErr: "want a command with {archive}", config: true},
		{name: "empty", wantErr: "want a command with {archive}", config: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imp, err := ImportCommand(tc.argv)
			if err == nil {
				err = imp(context.Background(), "node-1", archive)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, err := os.ReadFile(filepath.Join(dir, "node-1.tar")); err != nil || string(got) != "archive" {
					t.Errorf("copied archive: %q, %v", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
			if errors.Is(err, clusters.ErrConfig) != tc.config {
				t.Errorf("errors.Is(err, clusters.ErrConfig) = %v, want %v", !tc.config, tc.config)
			}
		})
	}
}

// TestRegistryReference checks that a registry that is no repository fails as a
// configuration error without touching the network.
func TestRegistryReference(t *testing.T) {
	client := fakeCluster(t, runningPod, threeNodes()...)
	p := newProvider(client, noExec, Options{Executable: staticBinary(t), Registry: "Not A Repo!"})
	_, err := p.Create(context.Background(), spec("reg0"))
	if err == nil || !errors.Is(err, clusters.ErrConfig) || !strings.Contains(err.Error(), `image registry "Not A Repo!"`) {
		t.Errorf("got %v, want a configuration error about the registry", err)
	}
	var tagErr *name.ErrBadName
	if !errors.As(err, &tagErr) {
		t.Errorf("got %T, want it to wrap a bad name error", err)
	}
}

// TestRegistry pushes the image to an in-memory registry on loopback and
// checks that pods pull it by digest.
func TestRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	repo := strings.TrimPrefix(srv.URL, "http://") + "/team/meshbench"
	client := fakeCluster(t, runningPod, threeNodes()...)
	p := newProvider(client, noExec, Options{Executable: staticBinary(t), Registry: repo, ReadyTimeout: time.Second})
	p.locate = fakeLocate
	ctx := context.Background()
	if _, err := p.Create(ctx, spec("reg0")); err != nil {
		t.Fatal(err)
	}
	pod, err := client.CoreV1().Pods("meshbench-reg0").Get(ctx, "client-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctr := pod.Spec.Containers[0]
	ref, err := name.NewDigest(ctr.Image)
	if err != nil || ref.Context().String() != repo || ctr.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Fatalf("image %s (%v) pull policy %s, want %s@sha256:... IfNotPresent", ctr.Image, err, ctr.ImagePullPolicy, repo)
	}
	pushed, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("pull back %s: %v", ref, err)
	}
	if d, _ := pushed.Digest(); d.String() != ref.DigestStr() {
		t.Errorf("registry has digest %s, pods use %s", d, ref.DigestStr())
	}
}
