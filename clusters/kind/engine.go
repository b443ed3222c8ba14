package kind

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"sigs.k8s.io/kind/pkg/cluster"

	"github.com/meshbench/meshbench/clusters"
)

// probeTimeout bounds one engine command and the registry lookup: an
// engine whose daemon hangs is as unusable as one that is not running.
const probeTimeout = 20 * time.Second

// engine is a container engine kind runs its nodes in.
type engine struct {
	// name is its command, docker or podman.
	name string
	// banner starts what `name -v` prints: kind's own test that the
	// command is this engine (a podman-docker shim is not Docker).
	banner string
	option cluster.ProviderOption
}

// engines are the engines meshbench uses, in the order of kind's own
// detection (cluster.DetectNodeProvider).
var engines = []engine{
	{name: "docker", banner: "Docker version", option: cluster.ProviderWithDocker()},
	{name: "podman", banner: "podman version", option: cluster.ProviderWithPodman()},
}

// detectEngine returns the first engine that kind would detect and whose
// daemon answers `info`. None is an error wrapping clusters.ErrConfig that
// says, for each engine, why it cannot be used.
func detectEngine(ctx context.Context) (engine, error) {
	var why []string
	for _, e := range engines {
		if _, err := exec.LookPath(e.name); err != nil {
			why = append(why, e.name+" is not installed")
			continue
		}
		out, err := e.run(ctx, "-v")
		if err == nil && !strings.HasPrefix(out, e.banner) {
			err = fmt.Errorf("`%s -v` does not say %q", e.name, e.banner)
		}
		if err == nil {
			_, err = e.run(ctx, "info")
		}
		if ctx.Err() != nil {
			return engine{}, ctx.Err()
		}
		if err != nil {
			why = append(why, fmt.Sprintf("%s: %v", e.name, err))
			continue
		}
		return e, nil
	}
	return engine{}, configErrorf("--provider kind needs a running Docker or podman engine and there is none (%s): install or start one (hack/kindengine/engine.sh start runs one in a network namespace of its own), or use another --provider",
		strings.Join(why, "; "))
}

// run runs the engine's command with args and returns its stdout; its
// error is the first line of what the command printed on stderr.
func (e engine) run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, e.name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := firstLine(stderr.String()); msg != "" {
			return "", errors.New(msg)
		}
		return "", fmt.Errorf("%s %s: %w", e.name, strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}

// checkImage makes sure kind can start nodes from the image ref: the
// engine has it, or its registry has it for kind to pull while it creates
// the first cluster. Anything else is an error wrapping clusters.ErrConfig.
func (e engine) checkImage(ctx context.Context, ref string) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return configErrorf("kind node image %q: %w", ref, err)
	}
	if _, err := e.run(ctx, "image", "inspect", ref); err == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, err = remote.Head(r, remote.WithContext(rctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return configErrorf("the kind node image %s is not in %s's image store and its registry cannot be reached (%v): pull it with `%s pull %s` where it can be, or `%s load` a saved copy, or build one offline with hack/kindimage/build.sh and name it with --kind-image",
		ref, e.name, err, e.name, ref, e.name)
}

// removeNetwork removes the engine network kind puts the nodes of every
// cluster on, once no kind cluster is left in the engine: kind creates it
// with the first cluster and never removes it, and kind creates it again
// with the next one. A network that something still uses stays.
func (e engine) removeNetwork(lib *cluster.Provider) error {
	left, err := lib.List()
	if err != nil {
		return kindError("list kind clusters", err)
	}
	if len(left) > 0 {
		return nil
	}
	// Whatever ctx the caller had, the network goes: like the nodes.
	ctx := context.Background()
	network := kindNetwork()
	if _, err := e.run(ctx, "network", "inspect", network); err != nil {
		return nil // there is none
	}
	if _, err := e.run(ctx, "network", "rm", network); err != nil {
		if _, ierr := e.run(ctx, "network", "inspect", network); ierr == nil {
			return nil // in use by containers that are not kind's nodes
		}
		return fmt.Errorf("remove the kind network %s: %w", network, err)
	}
	return nil
}

// kindNetwork is the name of kind's network: kind's default, or the
// override kind reads from the environment.
func kindNetwork() string {
	return cmp.Or(os.Getenv("KIND_EXPERIMENTAL_DOCKER_NETWORK"), "kind")
}

// firstLine is the first non-empty line of s, without a final period, to
// fit inside a sentence.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			return strings.TrimSuffix(line, ".")
		}
	}
	return ""
}

var configErrorf = clusters.ConfigErrorf
