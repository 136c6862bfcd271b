package main

import (
	"testing"
	"time"
)

func TestFmtDelta(t *testing.T) {
	if got := fmtDelta(-2 * time.Millisecond); got != "-"+fmtDur(2*time.Millisecond) {
		t.Fatalf("negative: %q", got)
	}
	if got := fmtDelta(3 * time.Millisecond); got != "+"+fmtDur(3*time.Millisecond) {
		t.Fatalf("positive: %q", got)
	}
}
