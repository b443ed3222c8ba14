package kube

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BinaryPath is where the image holds the meshbench executable; it is the
// image's entrypoint.
const BinaryPath = "/meshbench"

// ImageRepository names the image in node archives; the tag is taken from
// the image's digest, so that different binaries never share a name.
const ImageRepository = "localhost/meshbench"

// elfArch maps ELF machines to the GOARCH names nodes report.
var elfArch = map[elf.Machine]string{
	elf.EM_X86_64:  "amd64",
	elf.EM_AARCH64: "arm64",
	elf.EM_386:     "386",
	elf.EM_ARM:     "arm",
	elf.EM_PPC64:   "ppc64le",
	elf.EM_S390:    "s390x",
	elf.EM_RISCV:   "riscv64",
}

// StaticExecutable checks that path is a statically linked Linux executable,
// which a scratch image can run, and returns its architecture as a GOARCH
// name. Its errors wrap clusters.ErrConfig.
func StaticExecutable(path string) (arch string, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", configErrorf("the meshbench executable %s is not a Linux executable (%w): build one with GOOS=linux CGO_ENABLED=0", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", configErrorf("the meshbench executable %s is dynamically linked and cannot run in a scratch image: build it with CGO_ENABLED=0", path)
		}
	}
	arch, ok := elfArch[f.Machine]
	if !ok || f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return "", configErrorf("the meshbench executable %s is a %s %s file, not an executable for a known architecture", path, f.Machine, f.Type)
	}
	return arch, nil
}

// Image builds the meshbench image for arch without Docker: the scratch
// image with one layer that holds exe at BinaryPath, which is also the
// entrypoint. The layer is built and compressed once, in memory; the same
// executable always gives the same image digest.
func Image(exe, arch string) (v1.Image, error) {
	layer, err := binaryLayer(exe)
	if err != nil {
		return nil, fmt.Errorf("build meshbench image: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("build meshbench image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("build meshbench image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Entrypoint = []string{BinaryPath}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("build meshbench image: %w", err)
	}
	return img, nil
}

// binaryLayer returns a gzip-compressed layer holding exe at BinaryPath,
// with fixed ownership and times.
func binaryLayer(exe string) (v1.Layer, error) {
	f, err := os.Open(exe)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     strings.TrimPrefix(BinaryPath, "/"),
		Mode:     0o755,
		Size:     st.Size(),
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", exe, err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	// The opener hands out compressed bytes, which tarball recognises and
	// does not compress again.
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
}

// ArchiveTag is the tag under which WriteArchive stores img:
// ImageRepository with a tag made of the image digest.
func ArchiveTag(img v1.Image) (name.Tag, error) {
	d, err := img.Digest()
	if err != nil {
		return name.Tag{}, fmt.Errorf("digest meshbench image: %w", err)
	}
	return name.NewTag(ImageRepository + ":" + d.Hex[:16])
}

// WriteArchive writes img, tagged tag, to path as an image archive in the
// format `docker save` writes, which `ctr images import` and `kind load
// image-archive` read.
func WriteArchive(path string, tag name.Tag, img v1.Image) error {
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		return fmt.Errorf("write image archive %s: %w", path, err)
	}
	return nil
}
