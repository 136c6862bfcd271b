package integration

import (
	"context"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/wait"
)

// failoverLifetime outlives a takeover (lease 1.5s + retry), so a correct
// cluster never lets the stored token lapse during one.
const failoverLifetime = 4 * time.Second

func failoverEnv(t *testing.T) (*env, *harness.Process) {
	e := newEnv(t, envOptions{Lifetime: failoverLifetime, Overlap: time.Second})
	e.cluster.Start(3)
	leader, _ := e.cluster.WaitLeader(5*time.Second, nil)
	e.waitVersion(0, 5*time.Second)
	return e, leader
}

// waitTermLeader waits until the epoch hash names a leader other than old
// and returns it with the time waited.
func (e *env) waitTermLeader(old string, timeout time.Duration) (string, time.Duration) {
	e.t.Helper()
	var id string
	took := wait.For(e.t, timeout, "a new term in {tokend}:epoch", func() bool {
		id, _ = e.termLeader()
		return id != "" && id != old
	})
	return id, took
}

// TestFailover_leaderSIGKILL: a standby leads within lease_ttl + retry
// after the leader is killed; readers are never handed a dead token and no
// fetch is wasted (+1 for a fetch the victim may have had in flight).
func TestFailover_leaderSIGKILL(t *testing.T) {
	e, leader := failoverEnv(t)
	cfg := e.cluster.Cfg
	chk := e.checker(false)
	v0, f0, start := e.version(), e.fetches(), time.Now()
	wait.Hold(t, 1500*time.Millisecond, "steady refresh cycles before the kill")

	killed := time.Now()
	leader.Kill()
	id, _ := e.waitTermLeader(leader.ID, 5*time.Second)
	takeover := time.Since(killed)
	next, _ := e.cluster.WaitLeader(2*time.Second, e.cluster.Alive())
	if next.ID != id {
		t.Errorf("status says %s leads, epoch hash says %s", next.ID, id)
	}
	wait.Hold(t, 3*time.Second, "refresh cycles under the successor, readers checking")
	st := chk.Stop()
	elapsed := time.Since(start)
	writes, fetches := int(e.version()-v0), e.fetches()-f0

	t.Logf("figures: takeover=%s (bound %s) fetches=%d cycles(writes)=%d dead=%d; %s",
		ms(takeover), ms(cfg.LeaseTTL+cfg.RetryInterval*6/5+300*time.Millisecond), fetches, writes, st.DeadTotal(), st)
	if bound := cfg.LeaseTTL + cfg.RetryInterval*6/5 + 300*time.Millisecond; takeover > bound {
		t.Errorf("takeover took %s, want <= lease_ttl + retry_interval (+20%% jitter, +300ms slack) = %s", takeover, bound)
	}
	assertFetches(t, fetches, writes, 1, elapsed, failoverLifetime, 1)
	assertNoDead(t, st)
	if st.Get.Empty != 0 {
		t.Errorf("plain readers found no token %d times: the stored token lapsed during the takeover", st.Get.Empty)
	}
}

// TestFailover_leaderSIGSTOP: the leader is frozen longer than its lease; a
// standby takes over; on SIGCONT the ex-leader steps down (its renew
// deadline has passed) without writing anything that wins over the
// successor, and exactly one replica leads.
func TestFailover_leaderSIGSTOP(t *testing.T) {
	e, leader := failoverEnv(t)
	cfg := e.cluster.Cfg
	chk := e.checker(false)
	v0, f0, start := e.version(), e.fetches(), time.Now()
	wait.Hold(t, time.Second, "steady refresh cycles before the pause")

	paused := time.Now()
	leader.Pause()
	id, _ := e.waitTermLeader(leader.ID, 5*time.Second)
	takeover := time.Since(paused)
	_, epoch := e.termLeader()
	wait.Hold(t, cfg.LeaseTTL, "the leader stays frozen well past its lease and deadline")
	leader.Resume()
	resumed := time.Now()

	// The ex-leader must not claim leadership after its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	stepDown := wait.For(t, 2*time.Second, "the ex-leader to report leader=false", func() bool {
		s, err := leader.Status(ctx)
		return err == nil && !s.Leader
	})
	wait.Hold(t, 2500*time.Millisecond, "the resumed ex-leader runs beside its successor, readers checking")
	st := chk.Stop()
	elapsed := time.Since(start)
	writes, fetches := int(e.version()-v0), e.fetches()-f0

	ls := e.cluster.Leaders(nil)
	if len(ls) != 1 || ls[0].ID != id {
		t.Errorf("leaders after SIGCONT = %v, want only %s", ls, id)
	}
	if w := e.meta("leader"); w == leader.ID {
		t.Errorf("the stored token was written by the paused ex-leader %s after the successor took over", w)
	}
	if got, _ := e.termLeader(); got != id {
		t.Errorf("term leader = %s, want %s", got, id)
	}
	rejected, _ := leader.Metric(ctx, "tokend_rejected_writes_total", "")
	t.Logf("figures: takeover=%s new leader=%s epoch=%d, ex-leader status leader=false %s after SIGCONT (%s after pause), rejected writes on ex-leader=%v, fetches=%d cycles(writes)=%d dead=%d; %s",
		ms(takeover), id, epoch, ms(stepDown), ms(resumed.Sub(paused)), rejected, fetches, writes, st.DeadTotal(), st)
	assertFetches(t, fetches, writes, 1, elapsed, failoverLifetime, 1)
	assertNoDead(t, st)
}

// TestFailover_leaderSIGTERM: a leader stopped with SIGTERM exits 0,
// releases the lease and announces it, and a standby leads within 300ms,
// not after a lease TTL.
func TestFailover_leaderSIGTERM(t *testing.T) {
	e, leader := failoverEnv(t)
	chk := e.checker(false)
	v0, f0, start := e.version(), e.fetches(), time.Now()
	wait.Hold(t, time.Second, "steady refresh cycles before SIGTERM")

	// The watcher starts before the signal, so handover is an upper bound.
	done := make(chan time.Duration, 1)
	go func() {
		took, _ := wait.Poll(5*time.Second, func() bool {
			id, _ := e.termLeader()
			return id != "" && id != leader.ID
		})
		done <- took
	}()
	exit := leader.Term(5 * time.Second)
	handover := <-done
	next, _ := e.cluster.WaitLeader(2*time.Second, e.cluster.Alive())
	wait.Hold(t, 2*time.Second, "refresh cycles under the successor, readers checking")
	st := chk.Stop()
	elapsed := time.Since(start)
	writes, fetches := int(e.version()-v0), e.fetches()-f0

	t.Logf("figures: handover=%s (bound 300ms) exit=%s new leader=%s fetches=%d cycles(writes)=%d dead=%d; %s",
		ms(handover), ms(exit), next.ID, fetches, writes, st.DeadTotal(), st)
	if handover > 300*time.Millisecond {
		t.Errorf("handover took %s after SIGTERM, want <= 300ms (release announcement)", handover)
	}
	if n := leader.LogContains("stepped down"); n == 0 {
		t.Errorf("the old leader's log has no step-down line")
	}
	assertFetches(t, fetches, writes, 0, elapsed, failoverLifetime, 1)
	assertNoDead(t, st)
}
