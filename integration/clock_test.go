package integration

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/utils/clock"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/store"
)

// offsetClock is the real clock shifted by a constant offset: a host whose
// wall clock is wrong. Intervals are unaffected (monotonic readings stay).
type offsetClock struct {
	clock.RealClock
	offset time.Duration
}

func (c offsetClock) Now() time.Time                  { return time.Now().Add(c.offset) }
func (c offsetClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

var _ clock.WithTicker = offsetClock{}

// inProcessReplica is a refresher + elector pair with its own clock and
// Redis connection, run in the test process.
type inProcessReplica struct {
	id     string
	ref    *refresher.Refresher
	cancel context.CancelFunc
	done   chan struct{}
}

func startInProcess(t *testing.T, e *env, id string, offset time.Duration) *inProcessReplica {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr, DialTimeout: 250 * time.Millisecond,
		ReadTimeout: 250 * time.Millisecond, WriteTimeout: 250 * time.Millisecond, MaxRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := store.New(store.Config{Client: rdb})
	if err != nil {
		t.Fatal(err)
	}
	clk := offsetClock{offset: offset}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).With("replica", id)
	k := st.Keys()
	el, err := lock.New(lock.Config{
		Client: rdb, Key: k.Lease(), EpochKey: k.Epoch(), Channel: k.Events(), ID: id,
		LeaseTTL: 1500 * time.Millisecond, RenewInterval: 300 * time.Millisecond, RenewDeadline: time.Second,
		RetryInterval: 250 * time.Millisecond, OpTimeout: 150 * time.Millisecond, Clock: clk, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := wechat.NewClassic(wechat.Config{AppID: upstream, Secret: appSecret, BaseURL: e.srv.URL, MinExpiresIn: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := refresher.New(refresher.Config{
		Store: st, Elector: el, Apps: []refresher.App{{ID: appID, Provider: p, Kind: "wechat"}},
		Cooldown: 200 * time.Millisecond, DailyBudget: -1, Clock: clk, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &inProcessReplica{id: id, ref: ref, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := ref.Run(ctx); err != nil {
			t.Errorf("%s: Run: %v", id, err)
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *inProcessReplica) stop() {
	r.cancel()
	<-r.done
}

// TestClocks_skewedRefreshers: three refreshers in one process whose
// local clocks disagree by hours (an offset injected through the clock
// abstraction) elect one leader, refresh once per cycle, and hand over
// (the leader stops) with no extra fetch and no dead token, because Redis
// TTL and TIME decide, not local clocks.
func TestClocks_skewedRefreshers(t *testing.T) {
	const lifetime = 2 * time.Second
	e := newEnv(t, envOptions{Lifetime: lifetime, Overlap: 500 * time.Millisecond})
	offsets := map[string]time.Duration{"behind-2h": -2 * time.Hour, "exact": 0, "ahead-47m": 47 * time.Minute}
	reps := map[string]*inProcessReplica{}
	for id, off := range offsets {
		reps[id] = startInProcess(t, e, id, off)
	}
	v0 := e.waitVersion(0, 5*time.Second)
	chk := e.checker(false)
	f0, start := e.fetches(), time.Now()
	wait.Hold(t, 3*time.Second, "refresh cycles under skewed clocks before the handover")

	first, _ := e.termLeader()
	stopped := time.Now()
	reps[first].stop() // graceful: release and announce
	var second string
	wait.For(t, 2*time.Second, "a second leader", func() bool {
		second, _ = e.termLeader()
		return second != first
	})
	handover := time.Since(stopped)
	wait.Hold(t, 3*time.Second, "refresh cycles under the second leader")
	st := chk.Stop()
	elapsed := time.Since(start)
	writes, fetches := int(e.version()-v0), e.fetches()-f0

	leading := 0
	for id, r := range reps {
		if _, ok := r.ref.Leading(); ok && id != first {
			leading++
		}
	}
	t.Logf("figures: offsets %v; leader %s (offset %s) -> %s (offset %s) in %s; fetches=%d cycles(writes)=%d dead=%d; %s",
		offsets, first, offsets[first], second, offsets[second], ms(handover), fetches, writes, st.DeadTotal(), st)
	if leading != 1 {
		t.Errorf("%d refreshers lead after the handover, want 1", leading)
	}
	assertFetches(t, fetches, writes, 1, elapsed, lifetime, 1)
	assertNoDead(t, st)
}

// TestClocks_timeZones: tokend processes started with different TZ
// (UTC+8, UTC-8/-7, UTC+14) agree: one leader, one fetch per cycle across
// a SIGKILL handover, no dead token, and the daily budget counts on one
// quota day for all of them.
func TestClocks_timeZones(t *testing.T) {
	const lifetime = 2 * time.Second
	e := newEnv(t, envOptions{Lifetime: lifetime, Overlap: 500 * time.Millisecond})
	zones := []string{"Asia/Shanghai", "America/Los_Angeles", "Pacific/Kiritimati"}
	for i, z := range zones {
		e.cluster.Add("tz"+string(rune('1'+i)), "TZ="+z)
	}
	leader, _ := e.cluster.WaitLeader(5*time.Second, nil)
	v0 := e.waitVersion(0, 5*time.Second)
	chk := e.checker(false)
	f0, start := e.fetches(), time.Now()
	wait.Hold(t, 2500*time.Millisecond, "refresh cycles across time zones before the kill")
	leader.Kill()
	next, takeover := e.cluster.WaitLeader(5*time.Second, e.cluster.Alive())
	wait.Hold(t, 2500*time.Millisecond, "refresh cycles under the successor")
	st := chk.Stop()
	elapsed := time.Since(start)
	writes, fetches := int(e.version()-v0), e.fetches()-f0

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	budget := map[string]int{}
	for _, p := range e.cluster.Alive() {
		if as, err := appStatus(ctx, p, appID); err == nil {
			budget[p.ID] = as.BudgetUsed
		}
	}
	total := e.fetches()
	t.Logf("figures: zones %v; leader %s killed, %s leads after %s; fetches=%d cycles(writes)=%d dead=%d; budget_used by replica %v (upstream total %d); %s",
		zones, leader.ID, next.ID, ms(takeover), fetches, writes, st.DeadTotal(), budget, total, st)
	for id, b := range budget {
		if b < total-1 || b > total {
			t.Errorf("%s shows budget_used %d, upstream issued %d: replicas in other zones count another day", id, b, total)
		}
	}
	assertFetches(t, fetches, writes, 1, elapsed, lifetime, 1)
	assertNoDead(t, st)
}
