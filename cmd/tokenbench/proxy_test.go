package main

import (
	"testing"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
)

func TestFmtDelta(t *testing.T) {
	if got := fmtDelta(-2 * time.Millisecond); got != "-"+figures.Dur(2*time.Millisecond) {
		t.Fatalf("negative: %q", got)
	}
	if got := fmtDelta(3 * time.Millisecond); got != "+"+figures.Dur(3*time.Millisecond) {
		t.Fatalf("positive: %q", got)
	}
}
