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
)

// samplesDir is where raw samples live, relative to the run directory.
const samplesDir = "samples"

// samplesHeader is the first line of every samples file. Files written
// before connect_ns existed end at error (samplesHeaderNoConnect), and
// read with Connect 0.
var (
	samplesHeader          = []string{"seq", "intended_unix_ns", "latency_ns", "service_ns", "code", "bytes_in", "error", "connect_ns"}
	samplesHeaderNoConnect = samplesHeader[:7]
)

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

// Sample is one request's outcome, as a load agent measured it and as
// samples files keep it. Latency counts from the request's intended send
// time (the pacer's schedule), not from when it was sent, so a stalled
// server shows up instead of hiding (no coordinated omission).
type Sample struct {
	// Seq numbers the attack's requests from 0 in schedule order.
	Seq uint64
	// Intended is the request's intended send time, in Unix nanoseconds.
	Intended int64
	// Latency runs from the intended send time to the end of the response.
	Latency time.Duration
	// Service runs from the actual send time (what a closed-loop tool reports).
	Service time.Duration
	// Code is the HTTP status code; 0 when there was no response.
	// Protocols without a status (grpc, tcp-rr, tcp-crr) write 200 for
	// a complete exchange and leave failures to Error.
	Code uint16
	// BytesIn is the size of the response body.
	BytesIn uint32
	// Error is why the request failed; empty when it got a response.
	Error string
	// Connect is how long the request's own connection took to open
	// (tcp-crr, which opens one per request); 0 for requests on
	// persistent connections. It is part of Latency and Service.
	Connect time.Duration
	// Bytes is what a stream connection moved, acknowledged by the
	// server (protocol stream, whose samples are its connections, Latency
	// each one's transfer time); 0 for the other protocols. Samples files
	// do not keep it: a stream repetition's figures are in its Stream.
	Bytes uint64
}

// SampleEncoder writes samples as CSV: a header line, then one record per
// sample. It writes the header even when it encodes no sample, once
// flushed.
type SampleEncoder struct {
	cw     *csv.Writer
	header bool // written
}

// NewSampleEncoder returns an encoder writing to w.
func NewSampleEncoder(w io.Writer) *SampleEncoder {
	return &SampleEncoder{cw: csv.NewWriter(w)}
}

// Encode writes s, after the header if it is the first sample. Records are
// buffered until Flush.
func (e *SampleEncoder) Encode(s *Sample) error {
	if err := e.writeHeader(); err != nil {
		return err
	}
	if err := e.cw.Write(sampleRecord(s)); err != nil {
		return fmt.Errorf("encode sample %d: %w", s.Seq, err)
	}
	return nil
}

// Flush writes the header if no sample was encoded, then any buffered
// records.
func (e *SampleEncoder) Flush() error {
	if err := e.writeHeader(); err != nil {
		return err
	}
	e.cw.Flush()
	if err := e.cw.Error(); err != nil {
		return fmt.Errorf("encode samples: %w", err)
	}
	return nil
}

func (e *SampleEncoder) writeHeader() error {
	if e.header {
		return nil
	}
	if err := e.cw.Write(samplesHeader); err != nil {
		return fmt.Errorf("encode samples header: %w", err)
	}
	e.header = true
	return nil
}

// SampleDecoder reads samples written by a SampleEncoder.
type SampleDecoder struct {
	cr     *csv.Reader
	header bool // read and checked
}

// NewSampleDecoder returns a decoder reading from r.
func NewSampleDecoder(r io.Reader) *SampleDecoder {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0 // as many as the header has
	cr.ReuseRecord = true
	return &SampleDecoder{cr: cr}
}

// Decode reads the next sample into s. It returns io.EOF after the last
// one, and an error naming the line for a malformed record or a header
// that is not a samples file's.
func (d *SampleDecoder) Decode(s *Sample) error {
	if !d.header {
		header, err := d.cr.Read()
		if err != nil {
			return fmt.Errorf("decode samples header: %w", err)
		}
		if !slices.Equal(header, samplesHeader) && !slices.Equal(header, samplesHeaderNoConnect) {
			return fmt.Errorf("decode samples: header %q, want %q", header, samplesHeader)
		}
		d.header = true
	}
	rec, err := d.cr.Read()
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	if err != nil {
		return fmt.Errorf("decode sample: %w", err)
	}
	if err := parseSample(rec, s); err != nil {
		line, _ := d.cr.FieldPos(0)
		return fmt.Errorf("decode sample: line %d: %w", line, err)
	}
	return nil
}

// WriteSamples writes a repetition's raw samples as gzipped CSV under runDir
// (atomically) and returns the file's path relative to runDir, for
// Repetition.Samples.
func WriteSamples(runDir, caseID string, rep int, samples []Sample) (string, error) {
	rel := SamplesPath(caseID, rep)
	path := filepath.Join(runDir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("write samples: %w", err)
	}
	err := writeAtomic(path, func(w io.Writer) error {
		zw := gzip.NewWriter(w)
		enc := NewSampleEncoder(zw)
		for i := range samples {
			if err := enc.Encode(&samples[i]); err != nil {
				return err
			}
		}
		if err := enc.Flush(); err != nil {
			return err
		}
		return zw.Close()
	})
	if err != nil {
		return "", fmt.Errorf("write samples %s: %w", path, err)
	}
	return rel, nil
}

func sampleRecord(s *Sample) []string {
	return []string{
		strconv.FormatUint(s.Seq, 10),
		strconv.FormatInt(s.Intended, 10),
		strconv.FormatInt(int64(s.Latency), 10),
		strconv.FormatInt(int64(s.Service), 10),
		strconv.FormatUint(uint64(s.Code), 10),
		strconv.FormatUint(uint64(s.BytesIn), 10),
		s.Error,
		strconv.FormatInt(int64(s.Connect), 10),
	}
}

// ReadSamples reads a samples file written by WriteSamples.
func ReadSamples(path string) ([]Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("read samples %s: %w", path, err)
	}
	dec := NewSampleDecoder(zr)
	var samples []Sample
	for {
		var s Sample
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			return samples, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read samples %s: %w", path, err)
		}
		samples = append(samples, s)
	}
}

// parseSample fills s from a record, reporting every malformed field.
func parseSample(rec []string, s *Sample) error {
	var errs []error
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
	s.Connect = 0
	if len(rec) > 7 {
		s.Connect = time.Duration(n(7))
	}
	return errors.Join(errs...)
}

// Failed says whether the request failed: no response, or a status other
// than 2xx, as the case's error rate counts it.
func (s *Sample) Failed() bool {
	_, failed := sampleError(*s)
	return failed
}
