package load

import (
	"testing"
	"time"
)

// TestParseBenchmarkCSV: redis-benchmark 7's --csv output (as printed by
// redis-benchmark 7.0.15), and the rps-only output of older versions.
func TestParseBenchmarkCSV(t *testing.T) {
	v7 := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"GET {tokend}:token:app","25641.03","0.372","0.056","0.303","0.759","1.983","4.055"
`
	r, err := ParseBenchmarkCSV(v7)
	if err != nil || r.RPS != 25641.03 || r.P99 != 1983*time.Microsecond {
		t.Fatalf("v7: %+v, %v", r, err)
	}
	if r, err := ParseBenchmarkCSV("\"test\",\"rps\"\n\"GET\",\"1000.00\"\n"); err != nil || r.RPS != 1000 || r.P99 != 0 {
		t.Fatalf("rps only: %+v, %v", r, err)
	}
	for _, bad := range []string{"", "garbage", "\"test\",\"rps\"\n", "\"test\",\"x\"\n\"GET\",\"1\"\n"} {
		if _, err := ParseBenchmarkCSV(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
