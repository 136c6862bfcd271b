package logonce

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// TestLimiter_repeats: the first line, then at most one a minute with the
// count of repeats, and one when it recovers.
func TestLimiter_repeats(t *testing.T) {
	var buf bytes.Buffer
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), clk)
	count := func(sub string) int { return strings.Count(buf.String(), sub) }
	for range 100 {
		l.Warn(slog.LevelWarn, "k", "refresher: read pending reports")
		clk.Step(100 * time.Millisecond) // 10 s in all
	}
	if n := count("read pending reports"); n != 1 {
		t.Fatalf("%d lines in 10s, want 1", n)
	}
	clk.Step(time.Minute)
	l.Warn(slog.LevelWarn, "k", "refresher: read pending reports")
	if n := count("repeated=99"); n != 1 {
		t.Fatalf("the minute's line does not count 99 repeats: %q", buf.String())
	}
	if !l.Active("k") {
		t.Fatal("not active while warning")
	}
	l.OK("k", "refresher: recovered")
	l.OK("k", "refresher: recovered")
	if n := count("recovered"); n != 1 || l.Active("k") {
		t.Fatalf("%d recovery lines, want 1", n)
	}
}
