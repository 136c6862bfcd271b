// Package logonce rate-limits the refresher's repeated log lines per key:
// the first occurrence is logged, then at most one line a minute with the
// count of repeats, and one line when the condition clears. It decides
// what is logged, never whether the condition is an error.
package logonce

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// RepeatEvery is how often a repeated warning is logged again, with the
// count of repeats it stands for.
const RepeatEvery = time.Minute

// Limiter logs per key as the package says. Safe for concurrent use.
type Limiter struct {
	log   *slog.Logger
	clock clock.Clock

	mu   sync.Mutex // guards seen
	seen map[string]*repeat
}

type repeat struct {
	last       time.Time // when a line was last logged
	suppressed int       // occurrences since then, not logged
	total      int       // occurrences since the condition began
}

// New returns a Limiter logging to log, timed by clk.
func New(log *slog.Logger, clk clock.Clock) *Limiter {
	return &Limiter{log: log, clock: clk, seen: map[string]*repeat{}}
}

// Warn logs msg at level for key unless it was logged less than a minute
// ago; a suppressed line is counted and its count logged with the next.
func (l *Limiter) Warn(level slog.Level, key, msg string, args ...any) {
	now := l.clock.Now()
	l.mu.Lock()
	rp, ok := l.seen[key]
	if !ok {
		rp = &repeat{last: now}
		l.seen[key] = rp
	}
	rp.total++
	if ok && now.Sub(rp.last) < RepeatEvery {
		rp.suppressed++
		l.mu.Unlock()
		return
	}
	n := rp.suppressed
	rp.suppressed, rp.last = 0, now
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "repeated", n, "over", RepeatEvery)
	}
	l.log.Log(context.Background(), level, msg, args...)
}

// OK clears key: when it was warned about, one line says it recovered.
func (l *Limiter) OK(key, msg string, args ...any) {
	l.mu.Lock()
	rp, found := l.seen[key]
	delete(l.seen, key)
	l.mu.Unlock()
	if found {
		l.log.Info(msg, append(args, "after_failures", rp.total)...)
	}
}

// Active reports whether key is currently being warned about.
func (l *Limiter) Active(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.seen[key]
	return ok
}
