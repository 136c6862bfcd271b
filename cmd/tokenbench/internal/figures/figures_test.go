package figures

import (
	"testing"
	"time"
)

func TestDurationsPct(t *testing.T) {
	d := Durations{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {99, 10}, {100, 10}, {0, 1}, {10, 1}} {
		if got := d.Pct(tt.p); got != tt.want {
			t.Errorf("pct(%v) = %d, want %d", tt.p, got, tt.want)
		}
	}
	if got := (Durations{}).Pct(50); got != 0 {
		t.Errorf("empty pct = %d, want 0", got)
	}
}

func TestIntAndPctOf(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567"} {
		if got := Int(n); got != want {
			t.Errorf("Int(%d) = %q, want %q", n, got, want)
		}
	}
	if got := PctOf(1, 3); got != "33.3%" {
		t.Errorf("PctOf(1, 3) = %q", got)
	}
	if got := PctOf(1, 0); got != "n/a" {
		t.Errorf("PctOf(1, 0) = %q", got)
	}
}
