package refresher

// Virtual time for the tests of credential kinds: the injected fake clock
// and miniredis's clock (TIME, TTLs) move together, and every step waits
// until the leader is idle, so what a test sees at a virtual instant is
// what the leader did up to it.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/upstream"
)

// vtime is a fake clock and a miniredis kept in step.
type vtime struct {
	t   *testing.T
	clk *clocktesting.FakeClock
	mr  *miniredis.Miniredis
	r   *Refresher
	// waiters is how many clock waiters an idle leader has (its poll
	// ticker and its timer).
	waiters int
}

func newVTime(t *testing.T, mr *miniredis.Miniredis) *vtime {
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	mr.SetTime(clk.Now())
	return &vtime{t: t, clk: clk, mr: mr, waiters: 2}
}

// advance moves both clocks by d, then waits until the leader is idle.
// Redis's clock moves first: the fake clock's step fires the timers, and
// what they start must see Redis at the new time too.
func (v *vtime) advance(d time.Duration) {
	v.mr.SetTime(v.clk.Now().Add(d))
	v.mr.FastForward(d)
	v.clk.Step(d)
	v.settle()
}

// settle waits until no check runs and the leader loop waits on its timer,
// a few polls in a row.
func (v *vtime) settle() {
	v.t.Helper()
	idle := 0
	wait.For(v.t, 10*time.Second, "the leader idle", func() bool {
		busy := false
		for _, id := range v.r.ids {
			busy = busy || v.r.isChecking(id)
		}
		if busy || v.clk.Waiters() < v.waiters {
			idle = 0
			return false
		}
		idle++
		return idle >= 3
	})
}

// sameUpstream hands out one value until it rolls over at issued + life +
// lag (lag < 0: early, the old value stays valid until issued + life),
// then a new one: JS-SDK tickets (first-seen: expires_in always life),
// WeCom and stable tokens (trusted: expires_in is the true remaining
// life). It can also reject the parent token of a ticket fetch.
type sameUpstream struct {
	clk       clock.Clock
	life, lag time.Duration
	trusted   bool
	// minIn, when set, is the provider's MinExpiresIn: a trusted answer
	// with less life left is refused as a short-life error, as the
	// providers' answer parsing does.
	minIn time.Duration

	mu           sync.Mutex // guards the fields below
	n            int
	issued, prev time.Time // of the current and the previous value
	calls        int
	reqs         []upstream.FetchRequest
	// valid, when set, is the parent token the upstream accepts.
	valid func(parent string) bool
}

func (u *sameUpstream) Fetch(_ context.Context, req upstream.FetchRequest) (upstream.Token, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.calls++
	u.reqs = append(u.reqs, req)
	if u.valid != nil && !u.valid(req.ParentToken) {
		return upstream.Token{}, &upstream.Error{Code: 40001, Message: "invalid credential", Class: upstream.ClassTokenRejected}
	}
	now := u.clk.Now()
	if u.n == 0 || !now.Before(u.issued.Add(u.life+u.lag)) {
		u.n++
		u.prev, u.issued = u.issued, now
	}
	in := u.life
	if u.trusted {
		in = u.issued.Add(u.life).Sub(now)
	}
	if in < u.minIn {
		return upstream.Token{}, &upstream.Error{Message: "invalid expires_in: out of range", Class: upstream.ClassRetry, ShortLife: true}
	}
	return upstream.Token{Value: fmt.Sprintf("v%d", u.n), ExpiresIn: in}, nil
}

// deadAt is when value v stops being valid upstream (zero: unknown).
func (u *sameUpstream) deadAt(v string) time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	issued := u.issued
	if v != fmt.Sprintf("v%d", u.n) {
		issued = u.prev
	}
	return issued.Add(u.life + max(u.lag, 0))
}

func (u *sameUpstream) Calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// readerLog is what a raw reader sees of one token key over virtual time.
type readerLog struct {
	seen        bool          // a value was ever read
	gapFrom     time.Time     // the key is missing since (zero: present)
	longestGap  time.Duration // the longest time without a value, after the first
	deadHandout string        // a value read after it died upstream
}

// read GETs the key at virtual time now and records what it saw.
func (l *readerLog) read(t *testing.T, rdb *redis.Client, key string, now time.Time, deadAt func(string) time.Time) {
	t.Helper()
	v, err := rdb.Get(context.Background(), key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		if l.seen && l.gapFrom.IsZero() {
			l.gapFrom = now
		}
		return
	case err != nil:
		t.Fatal(err)
	}
	if !l.gapFrom.IsZero() {
		l.longestGap = max(l.longestGap, now.Sub(l.gapFrom))
		l.gapFrom = time.Time{}
	}
	l.seen = true
	if !now.Before(deadAt(v)) && l.deadHandout == "" {
		l.deadHandout = fmt.Sprintf("%s at %s (dead at %s)", v, now.Format("15:04:05.000"), deadAt(v).Format("15:04:05.000"))
	}
}
