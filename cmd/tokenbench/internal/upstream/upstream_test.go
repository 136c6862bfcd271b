package upstream

import (
	"testing"
	"time"
)

func TestBursts(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms ...int) []time.Time {
		var ts []time.Time
		for _, m := range ms {
			ts = append(ts, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return ts
	}
	tests := []struct {
		ts             []time.Time
		cycles, maxPer int
	}{
		{nil, 0, 0},
		{at(0), 1, 1},
		{at(0, 100, 200), 1, 3},      // gap exactly 100 ms: one burst
		{at(0, 101, 202), 3, 1},      // just over the gap: separate
		{at(0, 5, 3000, 6000), 3, 2}, // startup double fetch, then one per cycle
	}
	for _, tt := range tests {
		c, m := Bursts(tt.ts, 100*time.Millisecond)
		if c != tt.cycles || m != tt.maxPer {
			t.Errorf("Bursts(%v) = %d, %d; want %d, %d", tt.ts, c, m, tt.cycles, tt.maxPer)
		}
	}
}
