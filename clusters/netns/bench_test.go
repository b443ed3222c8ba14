package netns

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/meshbench/meshbench/clusters"
	"github.com/meshbench/meshbench/internal/testutil"
)

// seedMesh is the seed-mesh topology: 20 services of 5 pods spread over 3
// nodes, and a client pod: 101 pods.
func seedMesh(runID string) clusters.Spec {
	spec := clusters.Spec{
		RunID:       runID,
		Nodes:       3,
		PodCIDR:     netip.MustParsePrefix("10.244.0.0/16"),
		ServiceCIDR: netip.MustParsePrefix("10.96.0.0/16"),
		Services:    []clusters.ServiceSpec{{Name: "client", Port: 80, TargetPort: 8080, PodNodes: []int{0}, Role: "client"}},
	}
	pod := 0
	for s := range 20 {
		svc := clusters.ServiceSpec{Name: "svc-" + strconv.Itoa(s), Port: 80, TargetPort: 8080, Role: "server"}
		for range 5 {
			svc.PodNodes = append(svc.PodNodes, pod%3)
			pod++
		}
		spec.Services = append(spec.Services, svc)
	}
	return spec
}

// BenchmarkSeedMeshUpDown creates and deletes the seed-mesh cluster; the
// targets are up in <= 5 s and down in <= 2 s on 2 cores.
func BenchmarkSeedMeshUpDown(b *testing.B) {
	testutil.Privileged(b)
	ctx := context.Background()
	var up, down time.Duration
	for b.Loop() {
		spec := seedMesh(clusters.NewRunID())
		t0 := time.Now()
		c, err := New(Options{}).Create(ctx, spec)
		if err != nil {
			b.Fatalf("Create: %v", err)
		}
		t1 := time.Now()
		if err := c.Delete(ctx); err != nil {
			b.Fatalf("Delete: %v", err)
		}
		up += t1.Sub(t0)
		down += time.Since(t1)
	}
	b.ReportMetric(up.Seconds()/float64(b.N), "up-s/op")
	b.ReportMetric(down.Seconds()/float64(b.N), "down-s/op")
}
