package refresher

import (
	"context"
	"testing"
	"time"

	"github.com/tokend/tokend/store"
)

// TestRefresher_probe_detectsRotation (acceptance): a token rotated out
// of band is found by the probe within one probe interval, reported and
// replaced, with no business app's report.
func TestRefresher_probe_detectsRotation(t *testing.T) {
	s, rdb, mr := miniStore(t)
	v := newVTime(t, mr)
	v.waiters = 3 // the probe loop's timer too
	up := &classicUpstream{}
	obs := &countingObserver{}
	every := 10 * time.Second
	cfg := baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "mp", Provider: up, Prober: up, ProbeEvery: every})
	cfg.Clock, cfg.Observer, cfg.ReportPoll = v.clk, obs, time.Hour
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v.r = r
	start(t, r)
	v.settle()
	for range 20 { // two probe intervals of a live token
		v.advance(time.Second)
	}
	if n := obs.count(&obs.probes, probeOK); n < 2 || up.Calls() != 1 {
		t.Fatalf("%d ok probes, %d fetches over two intervals, want 2 or 3 and 1", n, up.Calls())
	}
	p1 := token(t, rdb, s, "mp")
	up.rotate()
	rotated := v.clk.Now()
	for token(t, rdb, s, "mp") == p1 {
		if v.clk.Since(rotated) > every+2*time.Second {
			t.Fatalf("the rotated token is still stored %s later", v.clk.Since(rotated))
		}
		v.advance(500 * time.Millisecond)
	}
	if !up.isLive(token(t, rdb, s, "mp")) || up.Calls() != 2 {
		t.Fatalf("%d fetches, stored token live: %v", up.Calls(), up.isLive(token(t, rdb, s, "mp")))
	}
	if n := obs.count(&obs.probes, probeRejected); n != 1 {
		t.Fatalf("%d rejected probes, want 1", n)
	}
	if n := obs.count(&obs.reports, "refreshed"); n != 1 {
		t.Fatalf("%d refreshed reports, want the probe's one", n)
	}
	if st := r.States()[0]; st.Probe != probeRejected && st.Probe != probeOK {
		t.Fatalf("probe state %q", st.Probe)
	}
}

// TestRefresher_windowedBudget: an exhausted windowed budget stops calls
// until its window ends, with a clear status and no backoff; garbage in
// its key costs no upstream call.
func TestRefresher_windowedBudget(t *testing.T) {
	s, rdb, mr := miniStore(t)
	v := newVTime(t, mr) // 10:00:00, the start of a window
	p := &fakeProvider{name: "up", lifetime: time.Hour}
	corp := store.Budget{Key: "corp", Limit: 2, Window: time.Minute}
	cfg := baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p, Budgets: []store.Budget{corp}})
	cfg.Clock, cfg.ReportPoll, cfg.RetryMin, cfg.RetryMax = v.clk, 5*time.Second, time.Second, 10*time.Second
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v.r = r
	start(t, r)
	v.settle()
	ctx := context.Background()
	lose := func() { // the token key is lost: the sweep notices within ReportPoll
		rdb.Del(ctx, s.Keys().Token("app"))
		for range 6 {
			v.advance(time.Second)
		}
	}
	lose() // the second fetch of the window
	lose() // refused
	st := r.States()[0]
	windowEnd := time.Date(2026, 12, 1, 10, 1, 0, 0, time.UTC)
	if p.Calls() != 2 || st.Waiting != waitBudget || st.WaitingFor != "corp 2/1m0s" || !st.WaitUntil.Equal(windowEnd) {
		t.Fatalf("%d calls, state %+v: want 2 calls, waiting for corp until 10:01", p.Calls(), st)
	}
	if stored, err := s.Status(ctx, "app"); err != nil || stored.Waiting != waitBudget || !stored.WaitUntil.Equal(windowEnd) {
		t.Fatalf("stored status %+v %v", stored, err)
	}
	for v.clk.Now().Before(windowEnd.Add(time.Second)) {
		v.advance(5 * time.Second)
	}
	if p.Calls() != 3 || r.States()[0].Waiting != "" || token(t, rdb, s, "app") == "" {
		t.Fatalf("after the window: %d calls, state %+v", p.Calls(), r.States()[0])
	}
	// Garbage in the window's key: repaired as used up, no call.
	rdb.HSet(ctx, s.Keys().Window(corp), "used", "garbage")
	lose()
	if st := r.States()[0]; p.Calls() != 3 || st.Waiting != waitBudget || !st.WaitUntil.Equal(windowEnd.Add(time.Minute)) {
		t.Fatalf("after garbage: %d calls, state %+v", p.Calls(), st)
	}
}
