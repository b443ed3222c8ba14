package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/meshbench/meshbench/internal/wire"
)

func BenchmarkTmpMax(b *testing.B) {
	srv := start(b, ServerOptions{Listen: "127.0.0.1:0"}.Args()...)
	load := start(b, LoadOptions{Targets: []string{"http://" + srv.ready.Addr + "/"}, Connections: DefaultConnections, Workers: DefaultWorkers, Timeout: DefaultTimeout}.Args()...)
	load.attack(b, wire.Attack{Tag: "warmup", Rate: 1000, Duration: time.Second / 2})
	for _, rate := range []float64{20000, 30000, 36000, 40000, 45000, 50000} {
		samples, done := load.attack(b, wire.Attack{Tag: "m", Rate: rate, Duration: 2 * time.Second})
		ok := 0
		for _, s := range samples {
			if s.Error == "" {
				ok++
			}
		}
		a := float64(ok) / time.Duration(done.Ended-done.Began).Seconds()
		fmt.Printf("rate %.0f achieved %.0f (%.2f%%) p50 %.0fus p99 %.0fus svc p50 %.0fus p99 %.0fus\n", rate, a, 100*a/rate, percentile(b, lat(samples, false), 50), percentile(b, lat(samples, false), 99), percentile(b, lat(samples, true), 50), percentile(b, lat(samples, true), 99))
	}
}

func lat(s []wire.Sample, svc bool) (out []float64) {
	for _, x := range s {
		d := x.Latency
		if svc {
			d = x.Service
		}
		out = append(out, float64(d.Microseconds()))
	}
	return out
}
