package integration

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/wait"
)

// TestRedis_restartedEmpty: Redis crashes and comes back empty (lease,
// tokens, tickets gone). The leader finds its lease lost, a leader is
// elected on the empty Redis and fetches exactly once; plain readers see a
// gap bounded by restartGapBound and no reader is handed a dead token, also
// after the old token dies at the upstream.
func TestRedis_restartedEmpty(t *testing.T) {
	const lifetime = 6 * time.Second
	const restartGapBound = 2500 * time.Millisecond
	e := newEnv(t, envOptions{Lifetime: lifetime, Overlap: time.Second})
	e.cluster.Start(3)
	e.cluster.WaitLeader(5*time.Second, nil)
	v := e.waitVersion(0, 5*time.Second)
	chk := e.checker(false)
	e.waitVersion(v, lifetime) // right after a proactive refresh: none due for lifetime/2
	old := e.storedToken()
	wait.Hold(t, 300*time.Millisecond, "the refresh settles: readers and caches on the new token")

	f0 := e.fetches()
	restarted := time.Now()
	e.redis.Restart()
	gap := wait.For(t, 5*time.Second, "a token in the restarted Redis", func() bool { return e.storedToken() != "" })
	gap += time.Since(restarted) - gap // from the kill, not from the end of Restart
	leader, _ := e.termLeader()
	wait.Hold(t, 2*time.Second, "past the old token's overlap, readers checking")
	st := chk.Stop()
	fetches, writes := e.fetches()-f0, int(e.version())

	t.Logf("figures: gap=%s (bound %s) new leader=%s fetches after restart=%d writes=%d old token now answers %d; dead=%d; %s",
		ms(gap), ms(restartGapBound), leader, fetches, writes, e.srv.Check(old), st.DeadTotal(), st)
	if fetches != 1 || writes != 1 {
		t.Errorf("after the restart: fetches = %d, writes = %d, want exactly 1 each", fetches, writes)
	}
	if gap > restartGapBound {
		t.Errorf("no token in Redis for %s after the restart, want <= %s", gap, restartGapBound)
	}
	assertNoDead(t, st)
}

// TestRedis_unreachable: the replicas' connections to Redis are cut (a TCP
// proxy refuses them) for longer than the renew deadline. The leader steps
// down by its deadline, before its lease can expire and anyone else could
// lead; reader.Reader users keep being served the cached token throughout;
// after Redis is back a leader is elected and refreshing resumes with no
// wasted fetch and no dead token.
func TestRedis_unreachable(t *testing.T) {
	const lifetime = 6 * time.Second
	var proxy *harness.Proxy
	e := newEnv(t, envOptions{Lifetime: lifetime, Overlap: time.Second, RedisAddr: func(real string) string {
		proxy = harness.StartProxy(t, real)
		return proxy.Addr
	}})
	cfg := e.cluster.Cfg
	e.cluster.Start(3)
	leader, _ := e.cluster.WaitLeader(5*time.Second, nil)
	v := e.waitVersion(0, 5*time.Second)
	viaProxy := redis.NewClient(&redis.Options{Addr: proxy.Addr, DialTimeout: 250 * time.Millisecond,
		ReadTimeout: 250 * time.Millisecond, WriteTimeout: 250 * time.Millisecond, MaxRetries: 1})
	t.Cleanup(func() { _ = viaProxy.Close() })
	chk := e.checker(false, func(c *harness.CheckerConfig) { c.ReaderRedis = viaProxy })
	v = e.waitVersion(v, lifetime)
	wait.Hold(t, 300*time.Millisecond, "the refresh settles: readers and caches on the new token")
	f0, w0, start := e.fetches(), v, time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := chk.Stats()
	cut := time.Now()
	proxy.Cut()
	stepDown := wait.For(t, 3*time.Second, "the leader to step down", func() bool {
		l, err := leader.Leading(ctx)
		return err == nil && !l
	})
	wait.Until(t, cut.Add(2500*time.Millisecond), "Redis stays unreachable: no replica may lead, the library reader serves its cache")
	during := chk.Stats()
	for _, p := range e.cluster.Alive() {
		if l, _ := p.Leading(ctx); l {
			t.Errorf("%s leads while Redis is unreachable", p.ID)
		}
	}
	proxy.Restore()
	next, relead := e.cluster.WaitLeader(5*time.Second, nil)
	wait.Hold(t, 2*time.Second, "refresh cycles after Redis is back, readers checking")
	st := chk.Stop()
	elapsed := time.Since(start)
	fetches, writes := e.fetches()-f0, int(e.version()-w0)

	libDuring := during.Lib.Reads - before.Lib.Reads
	t.Logf("figures: leader %s stepped down %s after the cut (deadline %s, lease %s); lib reads during the cut=%d (empty %d, errors %d); re-elected %s %s after restore; fetches=%d writes=%d dead=%d; %s",
		leader.ID, ms(stepDown), ms(cfg.RenewDeadline), ms(cfg.LeaseTTL), libDuring,
		during.Lib.Empty-before.Lib.Empty, during.Lib.Errors-before.Lib.Errors, next.ID, ms(relead), fetches, writes, st.DeadTotal(), st)
	if bound := cfg.RenewDeadline + 300*time.Millisecond; stepDown > bound {
		t.Errorf("leader stepped down %s after the cut, want <= renew_deadline + 300ms = %s", stepDown, bound)
	}
	if stepDown >= cfg.LeaseTTL {
		t.Errorf("leader stepped down %s after the cut, not before its lease (%s) could expire", stepDown, cfg.LeaseTTL)
	}
	if libDuring == 0 || during.Lib.Empty != before.Lib.Empty || during.Lib.Errors != before.Lib.Errors {
		t.Errorf("reader.Reader did not keep serving the cached token while Redis was unreachable: reads %d, empty %d, errors %d",
			libDuring, during.Lib.Empty-before.Lib.Empty, during.Lib.Errors-before.Lib.Errors)
	}
	assertFetches(t, fetches, writes, 1, elapsed, lifetime, 1)
	assertNoDead(t, st)
}
