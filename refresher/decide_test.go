package refresher

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

func TestDecide(t *testing.T) {
	now := time.Unix(10_000, 0)   // local clock
	redis := time.Unix(20_000, 0) // Redis's clock, off by a lot on purpose
	cooldown := 30 * time.Second
	rec := func(age time.Duration) store.Record {
		return store.Record{App: "a", Token: "cur", TTL: time.Hour, Now: redis, FetchedAt: redis.Add(-age), Version: 1}
	}
	gone := store.Record{App: "a", Now: redis}
	later := now.Add(time.Hour)
	for _, tc := range []struct {
		name     string
		rec      store.Record
		reported string
		due      time.Time
		want     decision
	}{
		{"no token: fetch", gone, "", now, decision{fetch: true}},
		{"valid, not due: look again when due", rec(time.Hour), "", later, decision{next: later}},
		{"due exactly now: fetch", rec(time.Hour), "", now, decision{fetch: true}},
		{"overdue: fetch", rec(time.Hour), "", now.Add(-time.Second), decision{fetch: true}},
		{"report of an older token: stale, no fetch", rec(time.Hour), "old", later,
			decision{next: later, clearStale: true, outcome: "stale"}},
		{"report with no token: stale, fetch", gone, "old", now, decision{fetch: true, clearStale: true, outcome: "stale"}},
		{"report inside the cooldown: wait for its end", rec(10 * time.Second), "cur", later,
			decision{next: now.Add(20 * time.Second), cooldownUntil: now.Add(20 * time.Second), outcome: "cooldown"}},
		{"report inside the cooldown, due earlier: look at the due time", rec(10 * time.Second), "cur", now.Add(5 * time.Second),
			decision{next: now.Add(5 * time.Second), cooldownUntil: now.Add(20 * time.Second), outcome: "cooldown"}},
		{"report inside the cooldown but due: proactive fetch", rec(10 * time.Second), "cur", now,
			decision{fetch: true, outcome: "cooldown"}},
		{"report a millisecond before the cooldown ends", rec(cooldown - time.Millisecond), "cur", later,
			decision{next: now.Add(time.Millisecond), cooldownUntil: now.Add(time.Millisecond), outcome: "cooldown"}},
		{"report at the cooldown's end: passive fetch", rec(cooldown), "cur", later, decision{fetch: true, passive: "cur"}},
		{"report after the cooldown: passive fetch", rec(time.Hour), "cur", later, decision{fetch: true, passive: "cur"}},
	} {
		got := decide(checkInput{rec: tc.rec, reported: tc.reported, now: now, due: tc.due, cooldown: cooldown})
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	r := &Refresher{cfg: Config{RetryMin: time.Second, RetryMax: time.Minute, ConfigRetry: 5 * time.Minute}}
	local := time.Date(2026, 11, 25, 16, 5, 0, 0, time.UTC)     // 00:05 UTC+8 on the local clock
	redisNow := time.Date(2026, 11, 25, 15, 58, 0, 0, time.UTC) // 23:58 UTC+8 on Redis's
	for _, tc := range []struct {
		name     string
		err      error
		attempts int
		lo, hi   time.Duration
		class    string
	}{
		{"transient, first", errors.New("dial tcp: refused"), 0, 500 * time.Millisecond, time.Second, "retry"},
		{"transient, grown", &upstream.Error{Code: -1, Class: upstream.ClassRetry}, 3, 4 * time.Second, 8 * time.Second, "retry"},
		{"transient, capped", &upstream.Error{Code: 45011, Class: upstream.ClassRetry}, 50, 30 * time.Second, time.Minute, "retry"},
		{"config error", &upstream.Error{Code: 40164, Class: upstream.ClassConfig}, 9, 5 * time.Minute, 5 * time.Minute, "config"},
		{"daily quota: Redis's day", &upstream.Error{Code: 45009, Class: upstream.ClassQuota}, 0, 3 * time.Minute, 3 * time.Minute, "quota"},
		{"daily budget: Redis's day", fmt.Errorf("w: %w", store.ErrBudgetExhausted), 0, 3 * time.Minute, 3 * time.Minute, "quota"},
		{"corrupt key: slow", &store.CorruptError{Key: "k", Detail: "wrong type"}, 4, 5 * time.Minute, 5 * time.Minute, "corrupt"},
	} {
		wait, class := r.retryAfter(tc.err, tc.attempts, local, redisNow)
		if wait < tc.lo || wait > tc.hi || class != tc.class {
			t.Errorf("%s: %s %s, want [%s, %s] %s", tc.name, wait, class, tc.lo, tc.hi, tc.class)
		}
	}
}
