package logrepeat

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestRedisLogLine(t *testing.T) {
	for in, want := range map[string]string{
		"redis: connection pool: failed to dial": "redis: connection pool: failed to dial",
		"sentinel: new master=\"m\"\n":           "redis: sentinel: new master=\"m\"",
		"":                                       "redis: ",
		"redis:x":                                "redis: redis:x",
	} {
		if got := redisLogLine(in); got != want {
			t.Errorf("redisLogLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecideRepeat(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	st := &repeatState{lastEmit: t0, suppressed: 7}
	for _, tc := range []struct {
		name    string
		st      *repeatState
		now     time.Time
		emit    bool
		repeats int
	}{
		{"first", nil, t0, true, 0},
		{"repeat within the minute", st, t0.Add(59 * time.Second), false, 0},
		{"a minute on", st, t0.Add(time.Minute), true, 7},
	} {
		emit, n := decideRepeat(tc.st, tc.now, time.Minute)
		if emit != tc.emit || n != tc.repeats {
			t.Errorf("%s: emit %v repeats %d, want %v %d", tc.name, emit, n, tc.emit, tc.repeats)
		}
	}
}

// TestRedisLogger_repeatsLimited: Redis unreachable for two minutes, the
// pool complaining every 600ms (issue 11 item 14): one line, one summary a
// minute, one line when it stops; one "redis: " prefix.
func TestRedisLogger_repeatsLimited(t *testing.T) {
	var buf bytes.Buffer
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	rl := New(slog.New(slog.NewTextHandler(&buf, nil)), clk)
	lg := redisLogger{rl}
	ctx := context.Background()
	for i := 0; i < 200; i++ { // 2 minutes
		lg.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: %v", 5, "connection refused")
		clk.Step(600 * time.Millisecond)
	}
	rl.sweep(ctx) // not quiet yet
	clk.Step(repeatQuiet)
	rl.sweep(ctx)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	// 0s: first line; 60s: 99 repeats; 60.6s-119.4s: 99 more, told when
	// it stops.
	if len(lines) != 3 || strings.Contains(buf.String(), "redis: redis:") || strings.Contains(lines[0], "repeats") ||
		!strings.Contains(lines[1], "repeats=99") || !strings.Contains(lines[2], "repeats=99") ||
		!strings.Contains(lines[2], "stopped repeating: redis: connection pool") {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	// Once forgotten, the next occurrence is a first line again.
	buf.Reset()
	lg.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: %v", 5, "connection refused")
	if !strings.Contains(buf.String(), "level=WARN") || strings.Contains(buf.String(), "repeats") {
		t.Fatalf("after recovery: %s", buf.String())
	}
}
