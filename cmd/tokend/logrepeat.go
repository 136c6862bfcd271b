package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/utils/clock"
)

// Repeat limiting of the lines cmd/tokend emits for a lasting condition
// (Redis unreachable): the first line, then at most one line per
// repeatEvery with the number of repeats, then one line once the
// condition has been quiet for repeatQuiet.
const (
	repeatEvery = time.Minute
	repeatQuiet = 15 * time.Second
)

// repeatState is what the limiter remembers of one key.
type repeatState struct {
	msg        string
	level      slog.Level
	lastSeen   time.Time
	lastEmit   time.Time
	suppressed int // since lastEmit
	total      int
}

// decideRepeat decides for one occurrence at now of a key last in state
// st (nil: new): emit or not, and how many repeats the emitted line
// summarises.
func decideRepeat(st *repeatState, now time.Time, every time.Duration) (emit bool, repeats int) {
	if st == nil {
		return true, 0
	}
	if now.Sub(st.lastEmit) >= every {
		return true, st.suppressed
	}
	return false, 0
}

// repeatLimiter applies decideRepeat per key. Safe for concurrent use.
type repeatLimiter struct {
	log   *slog.Logger
	clock clock.WithTicker
	mu    sync.Mutex              // guards seen
	seen  map[string]*repeatState // by key
}

func newRepeatLimiter(log *slog.Logger, clk clock.WithTicker) *repeatLimiter {
	return &repeatLimiter{log: log, clock: clk, seen: map[string]*repeatState{}}
}

// Log logs msg with args at level unless key repeats within repeatEvery.
func (l *repeatLimiter) Log(ctx context.Context, level slog.Level, key, msg string, args ...any) {
	now := l.clock.Now()
	l.mu.Lock()
	st := l.seen[key]
	emit, repeats := decideRepeat(st, now, repeatEvery)
	if st == nil {
		st = &repeatState{}
		l.seen[key] = st
	}
	st.msg, st.level, st.lastSeen = msg, level, now
	st.total++
	if emit {
		st.lastEmit, st.suppressed = now, 0
	} else {
		st.suppressed++
	}
	l.mu.Unlock()
	if !emit {
		return
	}
	if repeats > 0 {
		args = append(args, "repeats", repeats, "over", repeatEvery)
	}
	l.log.Log(ctx, level, msg, args...)
}

// sweep forgets keys quiet for repeatQuiet and logs, for those that
// repeated, that the condition stopped.
func (l *repeatLimiter) sweep(ctx context.Context) {
	now := l.clock.Now()
	type ended struct {
		msg        string
		suppressed int
		last       time.Time
	}
	var done []ended
	l.mu.Lock()
	for key, st := range l.seen {
		if now.Sub(st.lastSeen) < repeatQuiet {
			continue
		}
		delete(l.seen, key)
		if st.total > 1 {
			done = append(done, ended{st.msg, st.suppressed, st.lastSeen})
		}
	}
	l.mu.Unlock()
	for _, e := range done {
		l.log.InfoContext(ctx, "tokend: stopped repeating: "+e.msg, "repeats", e.suppressed, "last", e.last.UTC().Format(time.RFC3339))
	}
}

// Run sweeps until ctx ends.
func (l *repeatLimiter) Run(ctx context.Context) error {
	t := l.clock.NewTicker(repeatQuiet / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			l.sweep(ctx)
		}
	}
}

// redisLogger sends go-redis's own log lines (pool and sentinel events)
// through slog, so json logs stay json, one "redis: " prefix, repeats
// limited by format. Its messages carry addresses, never passwords.
type redisLogger struct{ repeats *repeatLimiter }

func (l redisLogger) Printf(ctx context.Context, format string, v ...interface{}) {
	l.repeats.Log(ctx, slog.LevelWarn, "redis\x00"+format, redisLogLine(fmt.Sprintf(format, v...)))
}

// redisLogLine prefixes a go-redis message with "redis: " unless it has it.
func redisLogLine(msg string) string {
	msg = strings.TrimRight(msg, "\n")
	if strings.HasPrefix(msg, "redis: ") {
		return msg
	}
	return "redis: " + msg
}

// setRedisLogger routes go-redis's global logger through l.
func setRedisLogger(l *repeatLimiter) { redis.SetLogger(redisLogger{l}) }
