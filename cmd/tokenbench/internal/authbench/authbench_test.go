package authbench

import (
	"testing"
	"time"
)

func TestRefreshRate(t *testing.T) {
	for _, tt := range []struct {
		n    int
		life time.Duration
		want float64
	}{
		// 2 h: refreshed 10 min ahead plus 1.25 min on average: every 6,675 s.
		{10000, 2 * time.Hour, 10000 / 6675.0},
		// 8 s: the lead is half the life (4 s), plus 0.5 s: every 4.5 s.
		{9, 8 * time.Second, 2},
		// 20 min: the lead is exactly BeforeExpiry (half the life).
		{1, 20 * time.Minute, 1 / (10*60 + 75.0)},
	} {
		if got := RefreshRate(tt.n, tt.life); got < tt.want*0.999 || got > tt.want*1.001 {
			t.Errorf("RefreshRate(%d, %s) = %v, want %v", tt.n, tt.life, got, tt.want)
		}
	}
}

func TestBreakdown(t *testing.T) {
	counts := map[string]int64{"hlen": 10, "evalsha": 20, "get": 10, "ping": 0, "time": 5}
	if got, want := Breakdown(counts, 10*time.Second, 2), "EVALSHA 2.00, GET 1.00, other 1.50"; got != want {
		t.Errorf("Breakdown top 2 = %q, want %q", got, want)
	}
	if got, want := Breakdown(counts, 10*time.Second, 10), "EVALSHA 2.00, GET 1.00, HLEN 1.00, TIME 0.50"; got != want {
		t.Errorf("Breakdown all = %q, want %q", got, want)
	}
	if got := Breakdown(nil, time.Second, 3); got != "none" {
		t.Errorf("Breakdown(nil) = %q, want none", got)
	}
}
