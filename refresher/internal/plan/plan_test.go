package plan

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
		want     Decision
	}{
		{"no token: fetch", gone, "", now, Decision{Fetch: true}},
		{"valid, not due: look again when due", rec(time.Hour), "", later, Decision{Next: later}},
		{"due exactly now: fetch", rec(time.Hour), "", now, Decision{Fetch: true}},
		{"overdue: fetch", rec(time.Hour), "", now.Add(-time.Second), Decision{Fetch: true}},
		{"report of an older token: stale, no fetch", rec(time.Hour), "old", later,
			Decision{Next: later, ClearStale: true, Outcome: "stale"}},
		{"report with no token: stale, fetch", gone, "old", now, Decision{Fetch: true, ClearStale: true, Outcome: "stale"}},
		{"report inside the cooldown: wait for its end", rec(10 * time.Second), "cur", later,
			Decision{Next: now.Add(20 * time.Second), CooldownUntil: now.Add(20 * time.Second), Outcome: "cooldown"}},
		{"report inside the cooldown, due earlier: look at the due time", rec(10 * time.Second), "cur", now.Add(5 * time.Second),
			Decision{Next: now.Add(5 * time.Second), CooldownUntil: now.Add(20 * time.Second), Outcome: "cooldown"}},
		{"report inside the cooldown but due: proactive fetch", rec(10 * time.Second), "cur", now,
			Decision{Fetch: true, Outcome: "cooldown"}},
		{"report a millisecond before the cooldown ends", rec(cooldown - time.Millisecond), "cur", later,
			Decision{Next: now.Add(time.Millisecond), CooldownUntil: now.Add(time.Millisecond), Outcome: "cooldown"}},
		{"report at the cooldown's end: passive fetch", rec(cooldown), "cur", later, Decision{Fetch: true, Passive: "cur"}},
		{"report after the cooldown: passive fetch", rec(time.Hour), "cur", later, Decision{Fetch: true, Passive: "cur"}},
	} {
		got := Decide(Check{Rec: tc.rec, Reported: tc.reported, Now: now, Due: tc.due, Cooldown: cooldown})
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

// TestParent: a ticket is fetched with its parent's valid token; it waits
// while the parent has none, or still holds the token the upstream
// rejected and was not fetched since.
func TestParent(t *testing.T) {
	valid := func(tok string, ticket int64) store.Record {
		return store.Record{App: "p", Token: tok, TTL: time.Hour, Ticket: ticket, Version: 1}
	}
	// ending is a parent with a life of life, left of it remaining.
	ending := func(tok string, life, left time.Duration) store.Record {
		now := time.Unix(1_800_000_000, 0)
		return store.Record{App: "p", Token: tok, TTL: left, Ticket: 5, Version: 1, Now: now,
			FetchedAt: now.Add(left - life), ExpiresAt: now.Add(left)}
	}
	for _, tc := range []struct {
		name     string
		parent   store.Record
		rejected Rejected
		want     string
		ok       bool
	}{
		{"parent missing: wait", store.Record{App: "p"}, Rejected{}, "", false},
		{"parent expired: wait", store.Record{App: "p", Token: "", Ticket: 5, Version: 3}, Rejected{}, "", false},
		{"parent valid: fetch with it", valid("P1", 5), Rejected{}, "P1", true},
		{"parent rejected, not fetched since: wait", valid("P1", 5), Rejected{Token: "P1", Ticket: 5}, "", false},
		{"parent rejected, replaced: fetch with the new one", valid("P2", 6), Rejected{Token: "P1", Ticket: 5}, "P2", true},
		{"parent rejected, fetched again, same token back: try once more", valid("P1", 6), Rejected{Token: "P1", Ticket: 5}, "P1", true},
		{"parent rejected, then missing: wait", store.Record{App: "p"}, Rejected{Token: "P1", Ticket: 5}, "", false},
		{"parent in the last tenth of its life: wait", ending("P1", 5*time.Second, 499*time.Millisecond), Rejected{}, "", false},
		{"parent just before its last tenth: fetch", ending("P1", 5*time.Second, 500*time.Millisecond), Rejected{}, "P1", true},
		{"long-lived parent in its last second: wait", ending("P1", 2*time.Hour, 999*time.Millisecond), Rejected{}, "", false},
		{"long-lived parent with a second left: fetch", ending("P1", 2*time.Hour, time.Second), Rejected{}, "P1", true},
		{"life unknown: fetch while valid", store.Record{App: "p", Token: "P1", TTL: time.Millisecond, Ticket: 5}, Rejected{}, "P1", true},
	} {
		got, ok := Parent(tc.parent, tc.rejected)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %q %v, want %q %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// TestPace: the rollover's bounded rate: halving the time to the expiry,
// floored at retryMin, never past the expiry; then every retryMin.
func TestPace(t *testing.T) {
	exp := time.Unix(10_000, 0)
	retry := time.Second
	for _, tc := range []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"10m before: halfway", exp.Add(-10 * time.Minute), exp.Add(-5 * time.Minute)},
		{"3s before: halfway", exp.Add(-3 * time.Second), exp.Add(-1500 * time.Millisecond)},
		{"1.5s before: floored at retryMin", exp.Add(-1500 * time.Millisecond), exp.Add(-500 * time.Millisecond)},
		{"0.5s before: not past the expiry", exp.Add(-500 * time.Millisecond), exp},
		{"at the expiry: every retryMin", exp, exp.Add(retry)},
		{"after the expiry: every retryMin", exp.Add(time.Minute), exp.Add(time.Minute + retry)},
	} {
		if got := Pace(tc.now, exp, retry); !got.Equal(tc.want) {
			t.Errorf("%s: %s, want %s", tc.name, got.Sub(exp), tc.want.Sub(exp))
		}
	}
	// From 10 minutes before to a second after: a bounded number of asks.
	n, now := 0, exp.Add(-10*time.Minute)
	for !now.After(exp) {
		now, n = Pace(now, exp, retry), n+1
	}
	if n > 12 {
		t.Fatalf("%d asks over the last 10 minutes, want about log2(600)", n)
	}
}

// TestAfterWrite: a new value (or one whose expiry the upstream extended)
// is due as usual; the stored value answered again with its kept expiry
// near is paced (rollover), before and at its expiry.
func TestAfterWrite(t *testing.T) {
	now := time.Unix(10_000, 0)
	before, retry := 10*time.Minute, time.Second
	for _, tc := range []struct {
		name      string
		expiresIn time.Duration // effective expiry - now
		lifetime  time.Duration
		rollover  bool
		lo, hi    time.Duration // next - now
	}{
		{"new value, 2h: due 10m before, jittered", 2 * time.Hour, 2 * time.Hour, false, 104 * time.Minute, 110 * time.Minute},
		{"same value, expiry extended (trusted): due as usual", 2 * time.Hour, 3 * time.Hour, false, 101 * time.Minute, 110 * time.Minute},
		{"same value, first-seen expiry kept, 8m left: paced", 8 * time.Minute, 2 * time.Hour, true, 4 * time.Minute, 4 * time.Minute},
		{"same value, 1s left: at the expiry", time.Second, 2 * time.Hour, true, time.Second, time.Second},
		{"same value at its expiry: every retryMin", 0, 2 * time.Hour, true, retry, retry},
	} {
		for range 20 {
			next, rollover := AfterWrite(now, now.Add(tc.expiresIn), tc.lifetime, before, retry)
			if d := next.Sub(now); rollover != tc.rollover || d < tc.lo || d > tc.hi {
				t.Fatalf("%s: next in %s rollover %v, want [%s, %s] %v", tc.name, d, rollover, tc.lo, tc.hi, tc.rollover)
			}
		}
	}
}

func TestDueIn(t *testing.T) {
	for _, tc := range []struct {
		remaining, lifetime, lo, hi time.Duration
	}{
		{2 * time.Hour, 2 * time.Hour, 110*time.Minute - 6*time.Minute, 110 * time.Minute}, // jittered by <= 5% of life
		{10 * time.Minute, 2 * time.Hour, -6 * time.Minute, 0},                             // at before_expiry: due now
		{4 * time.Second, 4 * time.Second, 2 * time.Second, 2 * time.Second},               // short life: half-life rule
		{0, 2 * time.Hour, -16 * time.Minute, -10 * time.Minute},                           // overdue
	} {
		for range 50 {
			got := DueIn(tc.remaining, tc.lifetime, 10*time.Minute)
			if got < tc.lo || got > tc.hi {
				t.Fatalf("DueIn(%s, %s) = %s, want [%s, %s]", tc.remaining, tc.lifetime, got, tc.lo, tc.hi)
			}
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempts, want := range map[int]time.Duration{0: time.Second, 1: 2 * time.Second, 5: 32 * time.Second, 6: time.Minute, 100: time.Minute} {
		for range 20 {
			got := Backoff(time.Second, time.Minute, attempts)
			if got < want/2 || got > want {
				t.Fatalf("Backoff(%d) = %s, want in [%s, %s]", attempts, got, want/2, want)
			}
		}
	}
}

func TestUntilQuotaDay(t *testing.T) {
	// 15:59 UTC is 23:59 in UTC+8: the quota day turns in a minute.
	now := time.Date(2026, 11, 25, 15, 59, 0, 0, time.UTC)
	if got := UntilQuotaDay(now); got != 2*time.Minute {
		t.Fatalf("UntilQuotaDay = %s, want 2m (1m to midnight UTC+8 plus 1m)", got)
	}
	now = time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC) // 00:00 UTC+8
	if got := UntilQuotaDay(now); got != 24*time.Hour+time.Minute {
		t.Fatalf("UntilQuotaDay = %s", got)
	}
}

func TestQuotaRetryAt(t *testing.T) {
	cst := func(h, m int) time.Time { // h:m on 2026-11-25 in UTC+8
		return time.Date(2026, 11, 25, h, m, 0, 0, time.UTC).Add(-store.BudgetDayOffset)
	}
	for _, tc := range []struct {
		name         string
		local, redis time.Time
		want         time.Duration
	}{
		{"clocks agree", cst(23, 58), cst(23, 58), 3 * time.Minute},
		{"local 7m ahead, across midnight", cst(23, 58).Add(7 * time.Minute), cst(23, 58), 3 * time.Minute},
		{"local 7m behind", cst(23, 58).Add(-7 * time.Minute), cst(23, 58), 3 * time.Minute},
		{"redis just past midnight, local behind", cst(23, 55), cst(24, 0), 24*time.Hour + time.Minute},
		{"redis a second before midnight", cst(24, 5), cst(23, 59).Add(59 * time.Second), time.Minute + time.Second},
		{"unknown redis time: local", cst(23, 58), time.Time{}, 3 * time.Minute},
	} {
		if got := QuotaRetryAt(tc.local, tc.redis).Sub(tc.local); got != tc.want {
			t.Errorf("%s: retry in %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestLocal(t *testing.T) {
	local, redis := time.Unix(1000, 0), time.Unix(5000, 0)
	if got := Local(local, redis, redis.Add(time.Hour)); !got.Equal(local.Add(time.Hour)) {
		t.Fatalf("Local = %s", got)
	}
	if got := Local(local, time.Time{}, local.Add(time.Minute)); !got.Equal(local.Add(time.Minute)) {
		t.Fatalf("Local with unknown Redis time = %s", got)
	}
}

// TestWaitsAfter: how long each failure waits, on which clock, with which
// budget named.
func TestWaitsAfter(t *testing.T) {
	w := Waits{RetryMin: time.Second, RetryMax: time.Minute, ConfigRetry: 5 * time.Minute}
	local := time.Date(2026, 11, 25, 16, 5, 0, 0, time.UTC)     // 00:05 UTC+8 on the local clock
	redisNow := time.Date(2026, 11, 25, 15, 58, 0, 0, time.UTC) // 23:58 UTC+8 on Redis's
	for _, tc := range []struct {
		name     string
		err      error
		attempts int
		lo, hi   time.Duration
		class    string
		budget   string
	}{
		{"transient, first", errors.New("dial tcp: refused"), 0, 500 * time.Millisecond, time.Second, "retry", ""},
		{"transient, grown", &upstream.Error{Code: -1, Class: upstream.ClassRetry}, 3, 4 * time.Second, 8 * time.Second, "retry", ""},
		{"transient, capped", &upstream.Error{Code: 45011, Class: upstream.ClassRetry}, 50, 30 * time.Second, time.Minute, "retry", ""},
		{"config error", &upstream.Error{Code: 40164, Class: upstream.ClassConfig}, 9, 5 * time.Minute, 5 * time.Minute, "config", ""},
		{"daily quota: Redis's day", &upstream.Error{Code: 45009, Class: upstream.ClassQuota}, 0, 3 * time.Minute, 3 * time.Minute, "quota", ""},
		{"daily budget: Redis's day", fmt.Errorf("w: %w", store.ErrBudgetExhausted), 0, 3 * time.Minute, 3 * time.Minute, "quota", "daily"},
		{"corrupt key: slow", &store.CorruptError{Key: "k", Detail: "wrong type"}, 4, 5 * time.Minute, 5 * time.Minute, "corrupt", ""},
		{"windowed budget: its window's end on Redis's clock", &store.BudgetError{Key: "corp", Limit: 400, Window: time.Hour,
			Until: redisNow.Add(17 * time.Minute)}, 3, 17 * time.Minute, 17 * time.Minute, "quota", "corp 400/1h0m0s"},
		{"daily budget as a BudgetError", &store.BudgetError{Limit: 5, Used: 5}, 3, 3 * time.Minute, 3 * time.Minute, "quota", "daily"},
		{"a rejected token of a token fetch: backoff", &upstream.Error{Code: 40001, Class: upstream.ClassTokenRejected}, 0,
			500 * time.Millisecond, time.Second, "retry", ""},
	} {
		got := w.After(tc.err, tc.attempts, local, redisNow)
		if wait := got.Until.Sub(local); wait < tc.lo || wait > tc.hi || got.Class != tc.class || got.Budget != tc.budget {
			t.Errorf("%s: %s %s %q, want [%s, %s] %s %q", tc.name, wait, got.Class, got.Budget, tc.lo, tc.hi, tc.class, tc.budget)
		}
	}
}
