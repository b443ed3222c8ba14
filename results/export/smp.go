package export

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/meshbench/meshbench/results"
)

// SMPVersion is the Service Mesh Performance specification version the
// SMP export follows (github.com/service-mesh-performance/service-mesh-performance,
// protos/service_mesh_performance.proto), as Meshery writes it.
const SMPVersion = "v0.0.1"

// smpDocument holds the SMP messages describing one run. Field names are
// the proto field names, which protojson and protoc-gen-go's JSON tags
// both accept.
type smpDocument struct {
	MeshbenchRun string          `json:"meshbench_run"`
	TestConfig   smpTestConfig   `json:"performance_test_config"`
	Environment  smpEnvironment  `json:"environment_config"`
	MeshConfigs  []smpMeshConfig `json:"service_mesh_configs"`
	TestResults  []smpResult     `json:"performance_test_results"`
}

type smpTestConfig struct {
	SMPVersion string            `json:"smp_version"`
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels,omitempty"`
	Clients    []smpClient       `json:"clients"`
	Duration   string            `json:"duration"`
}

type smpClient struct {
	Internal      bool   `json:"internal"`
	LoadGenerator string `json:"load_generator"`
	Protocol      int    `json:"protocol"` // 0 is http in SMP's Protocol enum
	Connections   int    `json:"connections"`
	RPS           int64  `json:"rps"`
}

type smpEnvironment struct {
	SMPVersion string            `json:"smp_version"`
	ID         string            `json:"id"`
	Labels     map[string]string `json:"labels,omitempty"`
	Nodes      []smpNode         `json:"node"`
}

type smpNode struct {
	Type  string `json:"type"`
	Cores int    `json:"cores"`
	MemMB int64  `json:"mem_mb"`
}

type smpMeshConfig struct {
	SMPVersion  string            `json:"smp_version"`
	ID          string            `json:"id"`
	Labels      map[string]string `json:"labels,omitempty"`
	MTLSEnabled bool              `json:"mtls_enabled"`
	Profile     string            `json:"profile,omitempty"`
	ProxyBuild  string            `json:"proxy_build,omitempty"`
}

type smpResult struct {
	SMPVersion   string            `json:"smp_version"`
	ID           string            `json:"id"`
	Labels       map[string]string `json:"labels"`
	StartTime    string            `json:"start_time,omitempty"`
	EndTime      string            `json:"end_time,omitempty"`
	Latencies    smpLatency        `json:"latencies_ms"`
	ActualQPS    float64           `json:"actual_QPS"`
	DetailsURI   string            `json:"details_uri,omitempty"`
	TestID       string            `json:"testId"`
	MeshConfigID string            `json:"meshConfigId"`
	EnvID        string            `json:"envId"`
}

// smpLatency is SMP's latency summary in milliseconds. Min is left out
// when no repetition's histogram decodes.
type smpLatency struct {
	Min     *float64 `json:"min,omitempty"`
	Average float64  `json:"average"`
	P50     float64  `json:"p50"`
	P90     float64  `json:"p90"`
	P99     float64  `json:"p99"`
	Max     float64  `json:"max"`
}

// WriteSMP writes the run as SMP messages in one JSON object: the test
// configuration, the environment, one service mesh configuration per
// datapath configuration, and one PerformanceTestResult per successful
// case (latencies in ms, achieved rate as actual_QPS). What SMP has no
// field for (the matrix point, p99.9, errors, hops per request, per-node
// proxies, memory and CPU, overhead vs none, the datapath's mode) is kept
// in each result's labels, as strings.
func WriteSMP(w io.Writer, run *results.Run) error {
	envID := "env-" + run.ID
	doc := smpDocument{
		MeshbenchRun: run.ID,
		TestConfig: smpTestConfig{
			SMPVersion: SMPVersion, ID: run.ID, Name: run.Scenario,
			Labels: map[string]string{"scenario_hash": run.ScenarioHash, "provider": run.Provider},
		},
		Environment: smpEnvironment{
			SMPVersion: SMPVersion, ID: envID,
			Labels: map[string]string{
				"kernel": run.Environment.Kernel, "go_version": run.Environment.GoVersion,
				"meshbench_version": run.Environment.MeshbenchVersion, "git_commit": run.Environment.GitCommit,
				"hostname": run.Environment.Hostname, "provider": run.Provider,
			},
			Nodes: []smpNode{{Type: run.Environment.CPUModel, Cores: run.Environment.CPUs, MemMB: int64(run.Environment.MemoryBytes >> 20)}},
		},
	}
	var durations []float64
	for i := range run.Cases {
		c := &run.Cases[i]
		client := smpClient{Internal: true, LoadGenerator: "vegeta", Connections: c.Connections, RPS: int64(c.Rate)}
		if !slices.Contains(doc.TestConfig.Clients, client) {
			doc.TestConfig.Clients = append(doc.TestConfig.Clients, client)
		}
		if !slices.Contains(durations, c.DurationS) {
			durations = append(durations, c.DurationS)
		}
		mesh := meshConfig(c, run.Environment.MeshbenchVersion)
		if !slices.ContainsFunc(doc.MeshConfigs, func(m smpMeshConfig) bool { return m.ID == mesh.ID }) {
			doc.MeshConfigs = append(doc.MeshConfigs, mesh)
		}
		if c.Status != "ok" {
			continue
		}
		doc.TestResults = append(doc.TestResults, smpResultOf(run, c, mesh.ID, envID))
	}
	if len(durations) == 1 {
		doc.TestConfig.Duration = time.Duration(durations[0] * float64(time.Second)).String()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("export smp: %w", err)
	}
	return nil
}

// configID names a case's datapath configuration: "sidecar-l7-mtls".
func configID(c *results.Case) string {
	id := c.Datapath
	if c.Mode != "" {
		id += "-" + c.Mode
	}
	if c.MTLS {
		id += "-mtls"
	}
	return id
}

// meshConfig describes a case's datapath configuration.
func meshConfig(c *results.Case, version string) smpMeshConfig {
	id := configID(c)
	labels := map[string]string{"datapath": c.Datapath}
	if c.Mode != "" {
		labels["mode"] = c.Mode
	}
	if c.Proxy != "" {
		labels["proxy"] = c.Proxy
	}
	return smpMeshConfig{SMPVersion: SMPVersion, ID: id, Labels: labels, MTLSEnabled: c.MTLS, Profile: c.Datapath, ProxyBuild: "meshbench " + version}
}

func smpResultOf(run *results.Run, c *results.Case, meshID, envID string) smpResult {
	ms := func(us float64) float64 { return us / 1e3 }
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	l := c.LatencyUS
	labels := map[string]string{
		"meshbench_case": c.ID,
		"datapath":       c.Datapath,
		"placement":      c.Placement,
		"services":       strconv.Itoa(c.Services),
		"target_rps":     num(c.Rate),
		"connections":    strconv.Itoa(c.Connections),
		"request_bytes":  strconv.Itoa(c.RequestBytes),
		"response_bytes": strconv.Itoa(c.ResponseBytes),
		"repetitions":    strconv.Itoa(len(c.Repetitions)),
		"requests":       strconv.FormatUint(c.Requests, 10),
		"p99_9_ms":       num(ms(l.P999)),
		"error_rate":     num(c.ErrorRate),
		"mtls":           strconv.FormatBool(c.MTLS),
	}
	if c.Mode != "" {
		labels["datapath_mode"] = c.Mode
	}
	if c.Path != nil {
		labels["hops_per_request"] = num(c.Path.HopsPerRequest)
	}
	if len(c.NodeCosts) > 0 {
		labels["proxies_per_node"] = num(busiest(c, func(n results.NodeCost) float64 { return float64(n.Proxies) }))
		labels["datapath_memory_bytes_per_node"] = num(busiest(c, func(n results.NodeCost) float64 { return n.DatapathMemoryBytesMean }))
		labels["datapath_cpu_seconds_per_1k_requests"] = num(busiest(c, func(n results.NodeCost) float64 { return n.DatapathCPUPer1kRequests }))
	}
	if none := run.NoneFor(c); none != nil && c.Datapath != results.NoneDatapath {
		for name, f := range map[string]results.LatencyField{"p50_vs_none": results.P50, "p99_vs_none": results.P99} {
			if xs := results.OverheadRatios(c, none, f); len(xs) > 0 {
				labels[name] = num(results.EstimateOf(xs).Median)
			}
		}
	}
	r := smpResult{
		SMPVersion: SMPVersion,
		ID:         run.ID + "/" + c.ID,
		Labels:     labels,
		Latencies: smpLatency{
			Min: minLatencyMS(c), Average: ms(l.Mean), P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), Max: ms(l.Max),
		},
		ActualQPS:    c.AchievedRPS,
		TestID:       run.ID,
		MeshConfigID: meshID,
		EnvID:        envID,
	}
	if !run.StartedAt.IsZero() {
		r.StartTime = run.StartedAt.UTC().Format(time.RFC3339Nano)
	}
	if !run.FinishedAt.IsZero() {
		r.EndTime = run.FinishedAt.UTC().Format(time.RFC3339Nano)
	}
	return r
}

// minLatencyMS is the smallest latency of any repetition, from the
// histograms, or nil.
func minLatencyMS(c *results.Case) *float64 {
	var low *hdrhistogram.Histogram
	for _, r := range c.Repetitions {
		h, err := results.DecodeHistogram(r.Histogram)
		if err != nil || h.TotalCount() == 0 {
			continue
		}
		if low == nil || h.Min() < low.Min() {
			low = h
		}
	}
	if low == nil {
		return nil
	}
	ms := float64(low.Min()) / 1e6
	return &ms
}
