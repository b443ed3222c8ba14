package results

import (
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/internal/wire"
)

// samplesDir is where raw samples live, relative to the run directory.
const samplesDir = "samples"

// samplesHeader is the first line of every samples file.
var samplesHeader = []string{"seq", "intended_unix_ns", "latency_ns", "service_ns", "code", "bytes_in", "error"}

// SamplesPath is the samples file of a case's repetition, relative to the run
// directory: samples/<sanitised case id>-rep<rep>.csv.gz.
func SamplesPath(caseID string, rep int) string {
	return filepath.Join(samplesDir, fmt.Sprintf("%s-rep%d.csv.gz", sanitize(caseID), rep))
}

// sanitize turns an id into one file name component: "/" becomes "_" and
// anything but letters, digits and "._=-" becomes "-".
func sanitize(id string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '/':
			return '_'
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._=-", r):
			return r
		}
		return '-'
	}, id)
}

// WriteSamples writes a repetition's raw samples as gzipped CSV under runDir
// (atomically) and returns the file's path relative to runDir, for
// Repetition.Samples.
func WriteSamples(runDir, caseID string, rep int, samples []wire.Sample) (string, error) {
	rel := SamplesPath(caseID, rep)
	path := filepath.Join(runDir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("write samples: %w", err)
	}
	err := writeAtomic(path, func(w io.Writer) error {
		zw := gzip.NewWriter(w)
		cw := csv.NewWriter(zw)
		if err := cw.Write(samplesHeader); err != nil {
			return err
		}
		for _, s := range samples {
			if err := cw.Write(sampleRecord(s)); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		return zw.Close()
	})
	if err != nil {
		return "", fmt.Errorf("write samples %s: %w", path, err)
	}
	return rel, nil
}

func sampleRecord(s wire.Sample) []string {
	return []string{
		strconv.FormatUint(s.Seq, 10),
		strconv.FormatInt(s.Intended, 10),
		strconv.FormatInt(int64(s.Latency), 10),
		strconv.FormatInt(int64(s.Service), 10),
		strconv.FormatUint(uint64(s.Code), 10),
		strconv.FormatUint(uint64(s.BytesIn), 10),
		s.Error,
	}
}

// ReadSamples reads a samples file written by WriteSamples.
func ReadSamples(path string) ([]wire.Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("read samples %s: %w", path, err)
	}
	cr := csv.NewReader(zr)
	cr.FieldsPerRecord = len(samplesHeader)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read samples %s: header: %w", path, err)
	}
	if !slices.Equal(header, samplesHeader) {
		return nil, fmt.Errorf("read samples %s: header %q, want %q", path, header, samplesHeader)
	}
	var samples []wire.Sample
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return samples, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read samples %s: %w", path, err)
		}
		s, err := parseSample(rec)
		if err != nil {
			line, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("read samples %s: line %d: %w", path, line, err)
		}
		samples = append(samples, s)
	}
}

func parseSample(rec []string) (wire.Sample, error) {
	var (
		s    wire.Sample
		errs []error
	)
	u := func(i, bits int) uint64 {
		v, err := strconv.ParseUint(rec[i], 10, bits)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", samplesHeader[i], err))
		}
		return v
	}
	n := func(i int) int64 {
		v, err := strconv.ParseInt(rec[i], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", samplesHeader[i], err))
		}
		return v
	}
	s.Seq = u(0, 64)
	s.Intended = n(1)
	s.Latency = time.Duration(n(2))
	s.Service = time.Duration(n(3))
	s.Code = uint16(u(4, 16))
	s.BytesIn = uint32(u(5, 32))
	s.Error = rec[6]
	return s, errors.Join(errs...)
}
