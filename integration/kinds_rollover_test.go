package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store/fleet"
)

// kindWindow is how long the rollover phase observes: three lifetimes and
// a bit, so that every same-value credential rolls over at least twice.
const kindWindow = 3*kindLifetime + time.Second

// takeoverBound is the longest a takeover after SIGKILL may take: the
// lease expires, a standby's retry (jittered +20%) takes it, plus slack.
func takeoverBound(cfg harness.Config) time.Duration {
	return cfg.LeaseTTL + cfg.RetryInterval*6/5 + 300*time.Millisecond
}

// kindRollovers observes kindWindow of the kind's credentials with a
// leader SIGKILL in the middle, when every credential is mid-life, and
// checks each credential: no dead value handed to readers, no gap longer
// than kindRetry + fetchSlack at a rollover, and only the upstream calls
// the rollovers need (see assertCredFetches).
func kindRollovers(e *kindEnv) {
	t := e.t
	chks := e.checkers(false)
	errs := e.watchErrors()
	a0, v0 := e.srv.Audit(), e.versions()
	start := time.Now()
	wait.Hold(t, kindWindow/3, "rollovers before the kill, readers checking")

	// Mid-life: every key lives longer than a takeover, so no credential
	// is due to roll over while nobody leads.
	need := takeoverBound(e.cluster.Cfg) + 500*time.Millisecond
	wait.For(t, 2*kindLifetime, fmt.Sprintf("every credential with more than %s left", need), func() bool {
		for _, c := range e.creds {
			if e.record(c.id).TTL < need {
				return false
			}
		}
		return true
	})
	leader, _ := e.cluster.WaitLeader(2*time.Second, nil)
	killed := time.Now()
	leader.Kill()
	wait.For(t, 5*time.Second, "a new term after the kill", func() bool {
		l := e.leader()
		return l != "" && l != leader.ID
	})
	takeover := time.Since(killed)
	wait.Hold(t, time.Until(start.Add(kindWindow)), "rollovers under the successor, readers checking")
	stats := stopAll(chks)
	elapsed := time.Since(start)
	a1, v1 := e.srv.Audit(), e.versions()
	seen := errs()

	t.Logf("figures: %s: window %s, SIGKILL of %s at +%s, takeover %s (bound %s)",
		e.kc.name, ms(elapsed), leader.ID, ms(killed.Sub(start)), ms(takeover), ms(takeoverBound(e.cluster.Cfg)))
	if takeover > takeoverBound(e.cluster.Cfg) {
		t.Errorf("takeover took %s, want <= %s", takeover, takeoverBound(e.cluster.Cfg))
	}
	for i, c := range e.creds {
		f := credFigures{
			calls: c.calls(a1) - c.calls(a0), issued: c.issued(a1) - c.issued(a0),
			writes: int(v1[i] - v0[i]), st: stats[i], elapsed: elapsed,
		}
		t.Logf("figures: %s: %s", c.id, f)
		assertCred(t, c, f)
		// README "Rollover of same-value kinds": waiting for the next
		// value is not an error (no backoff growth, no last_error).
		if len(seen[c.id]) > 0 {
			t.Errorf("%s: status showed errors while nothing failed upstream: %q", c.id, seen[c.id])
		}
	}
}

// watchErrors samples every credential's status (last_error) every 20 ms
// until the returned function is called, which returns the distinct
// errors seen by credential.
func (e *kindEnv) watchErrors() func() map[string][]string {
	ctx, cancel := context.WithCancel(context.Background())
	seen := map[string][]string{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, c := range e.creds {
				if s := e.status(c.id); s.LastError != "" && !slices.Contains(seen[c.id], s.LastError) {
					seen[c.id] = append(seen[c.id], s.LastError)
				}
			}
		}
	}()
	return func() map[string][]string {
		cancel()
		<-done
		return seen
	}
}

// leader is the replica id of the current term ("" when unknown).
func (e *kindEnv) leader() string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l, err := fleet.New(e.st).Leader(ctx)
	if err != nil || !l.Held {
		return ""
	}
	return l.ID
}

// versions are the credentials' write counters, in e.creds order.
func (e *kindEnv) versions() []int64 {
	out := make([]int64, len(e.creds))
	for i, c := range e.creds {
		out[i] = e.record(c.id).Version
	}
	return out
}

// credFigures are one credential's figures over a window.
type credFigures struct {
	calls   int // successful upstream answers for it
	issued  int // new values the upstream minted for it
	writes  int // tokend's writes (version increments)
	st      harness.Stats
	elapsed time.Duration
}

func (f credFigures) String() string {
	gaps := harness.Gaps(f.st.Rollovers)
	return fmt.Sprintf("calls=%d new values=%d writes=%d, rollovers seen=%d gaps=%v max gap=%s; dead=%d; %s",
		f.calls, f.issued, f.writes, len(f.st.Rollovers), roundAll(gaps), ms(f.st.MaxGap()), f.st.DeadTotal(), f.st)
}

func roundAll(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = ms(d)
	}
	return out
}

// assertCred checks one credential's figures: no dead value, no gap over
// kindRetry + fetchSlack + the readers' longest stall (a reader late by
// d measures every gap around it up to d longer: 1.79 s was measured
// beside a CPU hog where the credential's own gap was about 1 s), and its
// upstream calls (assertCredFetches).
func assertCred(t *testing.T, c cred, f credFigures) {
	t.Helper()
	assertNoDead(t, f.st)
	if g, stall := f.st.MaxGap(), f.st.MaxStall(); g > kindRetry+fetchSlack+stall {
		t.Errorf("%s: a reader went %s without a valid value, want <= retry %s + %s + the readers' longest stall %s",
			c.id, ms(g), ms(kindRetry), ms(fetchSlack), ms(stall))
	}
	assertCredFetches(t, c, f)
}

// assertCredFetches checks that a credential's upstream calls are the
// ones its values need:
//
//   - classic WeChat (every call issues a new token): one call per
//     refresh cycle, each call's token written (assertFetches);
//   - a value the upstream never replaces (DingTalk extends its token on
//     every call): no new value, a call per half life;
//   - every other same-value kind: one new value per value life (the
//     upstream decides when; at least window/(life+gap) - 1 of them show
//     the rollovers happened), each written once, and no more calls than
//     harness.RolloverCalls per value, +2 for the kill (a call in flight, and the
//     successor's first look).
func assertCredFetches(t *testing.T, c cred, f credFigures) {
	t.Helper()
	switch {
	case c.newPerCall:
		assertFetches(t, f.calls, f.writes, 1, f.elapsed, kindLifetime, 1)
	case c.lifeHi == 0:
		hi := int(f.elapsed/(kindLifetime*45/100)) + 2
		if f.issued != 0 || f.calls > hi {
			t.Errorf("%s: %d new values, %d calls in %s: want 0 and <= %d (one per half life)", c.id, f.issued, f.calls, ms(f.elapsed), hi)
		}
	default:
		lo := int(f.elapsed/(c.lifeHi+kindRetry+fetchSlack)) - 1
		hi := int(f.elapsed/c.lifeLo) + 1
		if f.issued < max(lo, 1) || f.issued > hi {
			t.Errorf("%s: %d new values in %s, want %d..%d (one per value life %s..%s)", c.id, f.issued, ms(f.elapsed), max(lo, 1), hi, ms(c.lifeLo), ms(c.lifeHi))
		}
		// The fake's counts and the versions are read one after the other
		// at each edge of the window, so a value issued before one read and
		// written after the other counts on one side only (seen: 4 writes
		// for 3 values beside a CPU hog). A value written twice would double.
		if f.writes < f.issued-1 || f.writes > f.issued+1 {
			t.Errorf("%s: %d writes for %d new values, want one write per new value (+-1 for a value in flight at an edge)", c.id, f.writes, f.issued)
		}
		if limit := (f.issued+1)*harness.RolloverCalls(c.lifeHi, kindRetry) + 2; f.calls > limit {
			t.Errorf("%s: %d upstream calls for %d new values, want <= %d (%d per rollover, +2 for the kill)",
				c.id, f.calls, f.issued, limit, harness.RolloverCalls(c.lifeHi, kindRetry))
		}
	}
}
