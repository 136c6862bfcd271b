package refresher

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// repeatEvery is how often a repeated warning is logged again, with the
// count of repeats it stands for.
const repeatEvery = time.Minute

// logLimiter rate-limits repeated log lines per key: the first occurrence
// is logged, then at most one line a minute with the count of repeats, and
// one line when the condition clears. Safe for concurrent use.
type logLimiter struct {
	log   *slog.Logger
	clock clock.Clock

	mu   sync.Mutex // guards seen
	seen map[string]*repeat
}

type repeat struct {
	last       time.Time // when a line was last logged
	suppressed int       // occurrences since then, not logged
	total      int       // occurrences since the condition began
	msg        string
}

func newLogLimiter(log *slog.Logger, clk clock.Clock) *logLimiter {
	return &logLimiter{log: log, clock: clk, seen: map[string]*repeat{}}
}

// warn logs msg at level for key unless it was logged less than a minute
// ago; a suppressed line is counted and its count logged with the next line.
func (l *logLimiter) warn(level slog.Level, key, msg string, args ...any) {
	now := l.clock.Now()
	l.mu.Lock()
	rp, ok := l.seen[key]
	if !ok {
		rp = &repeat{last: now, msg: msg}
		l.seen[key] = rp
	}
	rp.total++
	if ok && now.Sub(rp.last) < repeatEvery {
		rp.suppressed++
		l.mu.Unlock()
		return
	}
	n := rp.suppressed
	rp.suppressed, rp.last, rp.msg = 0, now, msg
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "repeated", n, "over", repeatEvery)
	}
	l.log.Log(context.Background(), level, msg, args...)
}

// ok clears key: when it was warned about, one line says it recovered.
func (l *logLimiter) ok(key, msg string, args ...any) {
	l.mu.Lock()
	rp, found := l.seen[key]
	delete(l.seen, key)
	l.mu.Unlock()
	if found {
		l.log.Info(msg, append(args, "after", rp.total, "failures")...)
	}
}

// active reports whether key is currently being warned about.
func (l *logLimiter) active(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.seen[key]
	return ok
}
