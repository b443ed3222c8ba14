package kube

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
)

// importTimeout bounds one node's import of the image archive.
const importTimeout = 2 * time.Minute

// ImportFunc makes the image archive at archive (in `docker save` format)
// available to the container runtime of node.
type ImportFunc func(ctx context.Context, node, archive string) error

// Placeholders ImportCommand replaces in its arguments.
const (
	NodePlaceholder    = "{node}"
	ArchivePlaceholder = "{archive}"
)

// ImportCommand returns an ImportFunc that runs argv, with NodePlaceholder
// and ArchivePlaceholder replaced in every argument by the node's name and
// the archive's path, e.g.
//
//	ctr --address /run/nodes/{node}/containerd.sock -n k8s.io images import {archive}
//
// No shell is involved. argv must name the archive.
func ImportCommand(argv []string) (ImportFunc, error) {
	if len(argv) == 0 || !strings.Contains(strings.Join(argv, " "), ArchivePlaceholder) {
		return nil, configErrorf("image import command %q: want a command with %s where the archive's path goes", strings.Join(argv, " "), ArchivePlaceholder)
	}
	return func(ctx context.Context, node, archive string) error {
		r := strings.NewReplacer(NodePlaceholder, node, ArchivePlaceholder, archive)
		args := make([]string, len(argv))
		for i, a := range argv {
			args[i] = r.Replace(a)
		}
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
		}
		return nil
	}, nil
}

// prepareImage builds the image once per provider and makes it available
// to nodes: pushed to the registry once, or imported on every node that
// does not have it yet. Failures wrap clusters.ErrConfig: the user must fix the
// executable, the registry or the import command.
func (p *Provider) prepareImage(ctx context.Context, nodes []corev1.Node) (image, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.img == nil {
		exe := p.executable()
		arch, err := StaticExecutable(exe)
		if err != nil {
			return image{}, err
		}
		if p.img, err = Image(exe, arch); err != nil {
			return image{}, err
		}
		p.arch = arch
	}
	if err := checkArch(nodes, p.arch); err != nil {
		return image{}, err
	}
	tag, err := ArchiveTag(p.img)
	if err != nil {
		return image{}, err
	}
	switch {
	case p.opts.Registry != "":
		return p.push(ctx, tag)
	case p.opts.Import != nil:
		return p.importOn(ctx, nodes, tag)
	}
	return image{}, configErrorf("say how the nodes get the meshbench image: a registry or an import command")
}

// push pushes the image to the registry under tag's tag, once, and
// returns its reference by digest.
func (p *Provider) push(ctx context.Context, tag name.Tag) (image, error) {
	if p.pushed.ref != "" {
		return p.pushed, nil
	}
	ref, err := name.NewTag(p.opts.Registry + ":" + tag.TagStr())
	if err != nil {
		return image{}, configErrorf("image registry %q: want a repository such as registry.example.com/meshbench: %w", p.opts.Registry, err)
	}
	if err := remote.Write(ref, p.img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		if ctx.Err() != nil {
			return image{}, fmt.Errorf("push meshbench image to %s: %w", ref, err)
		}
		return image{}, configErrorf("push meshbench image to %s: %w", ref, err)
	}
	d, err := p.img.Digest()
	if err != nil {
		return image{}, fmt.Errorf("digest meshbench image: %w", err)
	}
	p.pushed = image{ref: ref.Context().Digest(d.String()).String(), policy: corev1.PullIfNotPresent}
	return p.pushed, nil
}

// importOn writes the image archive and imports it, in parallel, on the
// nodes that do not have it yet.
func (p *Provider) importOn(ctx context.Context, nodes []corev1.Node, tag name.Tag) (image, error) {
	img := image{ref: tag.String(), policy: corev1.PullNever}
	var missing []string
	for _, n := range nodes {
		if !p.imported[n.Name] {
			missing = append(missing, n.Name)
		}
	}
	if len(missing) == 0 {
		return img, nil
	}
	dir, err := os.MkdirTemp("", "meshbench-image-")
	if err != nil {
		return image{}, fmt.Errorf("write image archive: %w", err)
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "meshbench.tar")
	if err := WriteArchive(archive, tag, p.img); err != nil {
		return image{}, err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, node := range missing {
		g.Go(func() error {
			ictx, cancel := context.WithTimeout(gctx, importTimeout)
			defer cancel()
			if err := p.opts.Import(ictx, node, archive); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("import meshbench image on node %s: %w", node, err)
				}
				return configErrorf("import meshbench image on node %s: %w", node, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return image{}, err
	}
	for _, node := range missing {
		p.imported[node] = true
	}
	return img, nil
}
