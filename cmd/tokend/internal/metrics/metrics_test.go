package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetrics_leaderOnlySeriesDropped: a replica that steps down must not
// keep exporting the expiry it last wrote, or expiry alerts fire on it.
func TestMetrics_leaderOnlySeriesDropped(t *testing.T) {
	m := New()
	m.Leading(true, 7)
	m.Written("mp-main", time.Unix(1_800_000_000, 0), 3)
	m.Fetched("mp-main", "ok", 0, 20*time.Millisecond)
	if got := testutil.ToFloat64(m.expiry.WithLabelValues("mp-main")); got != 1_800_000_000 {
		t.Fatalf("expiry = %v", got)
	}
	if testutil.ToFloat64(m.leader) != 1 || testutil.ToFloat64(m.epoch) != 7 {
		t.Fatal("leader gauges not set")
	}
	m.Leading(false, 7)
	if n := testutil.CollectAndCount(m.expiry) + testutil.CollectAndCount(m.budgetUsed); n != 0 {
		t.Fatalf("%d leader-only series left after stepping down", n)
	}
	if testutil.ToFloat64(m.leader) != 0 || testutil.CollectAndCount(m.fetches) != 1 {
		t.Fatal("leader gauge or fetch counter wrong after stepping down")
	}
}

// TestMetrics_probes: probes are counted per app and outcome, and survive
// a step-down (a counter, not a leader-only gauge).
func TestMetrics_probes(t *testing.T) {
	m := New()
	m.Probed("mp-main", "ok")
	m.Probed("mp-main", "ok")
	m.Probed("mp-main", "rejected")
	m.Leading(false, 1)
	if got := testutil.ToFloat64(m.probes.WithLabelValues("mp-main", "ok")); got != 2 {
		t.Fatalf("ok probes = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.probes.WithLabelValues("mp-main", "rejected")); got != 1 {
		t.Fatalf("rejected probes = %v, want 1", got)
	}
}
