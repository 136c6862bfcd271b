// Package logrepeat limits log lines that a lasting condition (Redis
// unreachable) repeats on every request or reconnect: the first line, then
// at most one summary a minute with the number of repeats, then one line
// once the condition has been quiet for a while. It also routes go-redis's
// own logger through a Limiter. It does not limit distinct conditions: each
// key is remembered until it has been quiet.
package logrepeat

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

// The first line of a key, then at most one line per repeatEvery with the
// number of repeats, then one line once the key has been quiet for
// repeatQuiet.
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

// Limiter applies decideRepeat per key. Safe for concurrent use.
type Limiter struct {
	log   *slog.Logger
	clock clock.WithTicker
	mu    sync.Mutex              // guards seen
	seen  map[string]*repeatState // by key
}

// New returns a Limiter logging to log on clk (clock.RealClock{} outside
// tests). Run must run for quiet keys to be forgotten.
func New(log *slog.Logger, clk clock.WithTicker) *Limiter {
	return &Limiter{log: log, clock: clk, seen: map[string]*repeatState{}}
}

// Log logs msg with args at level unless key repeats within repeatEvery.
func (l *Limiter) Log(ctx context.Context, level slog.Level, key, msg string, args ...any) {
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
func (l *Limiter) sweep(ctx context.Context) {
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
func (l *Limiter) Run(ctx context.Context) error {
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
type redisLogger struct{ repeats *Limiter }

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

// SetRedisLogger routes go-redis's global logger through l.
func SetRedisLogger(l *Limiter) { redis.SetLogger(redisLogger{l}) }
