// Command ociimage writes a single-layer OCI image archive holding static
// executables, for `ctr images import`, without Docker or a registry:
//
//	ociimage -o pause.tar -name registry.k8s.io/pause:3.10 -entrypoint /pause /path/to/pause
//
// Every file argument lands at the image's root under its base name. The
// archive is deterministic: the same inputs give the same digests.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "archive to write")
	name := fs.String("name", "", "image reference, e.g. registry.k8s.io/pause:3.10")
	entry := fs.String("entrypoint", "", "entrypoint and arguments, separated by spaces")
	arch := fs.String("arch", runtime.GOARCH, "image architecture")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *name == "" || *entry == "" || fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("want -o, -name, -entrypoint and at least one file")
	}
	img := Image{Name: *name, Arch: *arch, Entrypoint: strings.Fields(*entry)}
	for _, p := range fs.Args() {
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read image file: %w", err)
		}
		img.Files = append(img.Files, File{Path: filepath.Base(p), Mode: 0o755, Data: data})
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("create archive: %w", err)
	}
	if err := Write(f, img); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close archive %s: %w", *out, err)
	}
	return nil
}
