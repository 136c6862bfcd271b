package refresher_test

// End-to-end tests of issue 3's acceptance criteria: the real WeChat
// providers (wechat.NewClassic, wechat.NewStable) against the fake upstream
// (wechattest) over loopback HTTP, writing through package store into a
// real redis-server. Token lifetimes are compressed to seconds.
//
// TestMain (goleak) lives in helpers_test.go; everything started here is
// closed through t.Cleanup: refreshers first, then HTTP clients, then the
// fake upstream, then Redis.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
)

// TestUpstream_threeReplicas_oneFetchPerCycle: three refreshers, each with
// its own elector, provider and Redis client, share one redis-server and the
// fake classic endpoint (tokens live 2s, the superseded one 1s more). There
// is one upstream fetch per refresh cycle (half-life, 1s), also across a
// leader handover, and a reader sampling the stored token every 20ms is
// never handed a token the upstream rejects.
func TestUpstream_threeReplicas_oneFetchPerCycle(t *testing.T) {
	t.Parallel()
	rs := redisserver.Start(t)
	wx := newUpstream(t, wechattest.Config{Lifetime: 2 * time.Second, Overlap: time.Second, DailyQuota: -1})
	var log fetchLog
	hc := newHTTPClient(t, log.wrap)

	type replica struct {
		r    *refresher.Refresher
		stop func()
	}
	var reps []replica
	for _, id := range []string{"a", "b", "c"} {
		rdb := rs.Client()
		s := newUpStore(t, rdb, "")
		el, err := lock.New(lock.Config{
			Client: rdb, Key: s.Keys().Lease(), EpochKey: s.Keys().Epoch(), Channel: s.Keys().Events(), ID: id,
			LeaseTTL: 2 * time.Second, RenewInterval: 200 * time.Millisecond, RenewDeadline: time.Second,
			RetryInterval: 50 * time.Millisecond, OpTimeout: 150 * time.Millisecond, Logger: upQuiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		p := newClassic(t, wx, hc, time.Second)
		r, err := refresher.New(upConfig(s, el, refresher.App{ID: upApp, Provider: p, Kind: "wechat"}))
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, replica{r: r, stop: runRefresher(t, r)})
	}
	leaders := func() (n int, idx int) {
		idx = -1
		for i, rep := range reps {
			if _, ok := rep.r.Leading(); ok {
				n, idx = n+1, i
			}
		}
		return n, idx
	}

	rdb := rs.Client()
	s := newUpStore(t, rdb, "")
	wait.For(t, 3*time.Second, "first token", func() bool { return storedToken(t, rdb, s) != "" })

	began, fetched0 := time.Now(), wx.Audit().TotalFetches
	const window = 4500 * time.Millisecond
	var reads, dead int
	stopped := -1
	markTok := ""
	for time.Since(began) < window {
		tok := storedToken(t, rdb, s)
		code := -2 // no token in Redis
		if tok != "" {
			var err error
			if code, err = protectedCall(hc, wx, tok); err != nil {
				t.Fatal(err)
			}
		}
		reads++
		if code != 0 {
			dead++
			t.Errorf("read %d at %s: the stored token answers %d", reads, time.Since(began).Round(time.Millisecond), code)
		}
		// Hand over once, right after a write, far from the next fetch:
		// stopping the leader in the middle of a fetch would lose that
		// fetch's token and make the successor fetch again, by design.
		switch {
		case stopped < 0 && markTok == "" && time.Since(began) > 1200*time.Millisecond:
			markTok = tok
		case stopped < 0 && markTok != "" && tok != "" && tok != markTok:
			n, idx := leaders()
			if n != 1 {
				t.Fatalf("%d leaders before the handover", n)
			}
			reps[idx].stop()
			stopped = idx
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(began)
	if stopped < 0 {
		t.Fatal("no write seen to hand over after")
	}
	if n, idx := leaders(); n != 1 || idx == stopped {
		t.Fatalf("after the handover: %d leaders (index %d, stopped %d)", n, idx, stopped)
	}

	// Counters at a quiet moment: no fetch between send and state update.
	var audit wechattest.Audit
	var sent []time.Time
	wait.For(t, time.Second, "fetch counters to agree", func() bool {
		audit, sent = wx.Audit(), log.times()
		total := 0
		for _, rep := range reps {
			total += rep.r.States()[0].Fetches
		}
		return len(sent) == audit.TotalFetches && total == audit.TotalFetches
	})
	fetches := audit.TotalFetches - fetched0
	cycles := int(elapsed / time.Second)
	t.Logf("3 replicas, one handover: %d fetches in %s (%d cycles), %d reads, %d dead", fetches, elapsed.Round(time.Millisecond), cycles, reads, dead)
	if fetches < cycles-1 || fetches > cycles+1 {
		t.Errorf("%d fetches in %d refresh cycles, want one per cycle", fetches, cycles)
	}
	for i := 1; i < len(sent); i++ {
		if gap := sent[i].Sub(sent[i-1]); gap < 700*time.Millisecond {
			t.Errorf("fetches %d and %d only %s apart: more than one fetch in a cycle", i, i+1, gap)
		}
	}
	if audit.Issued[upAppID+"/token"] != audit.TotalFetches {
		t.Errorf("issued %v for %d fetches", audit.Issued, audit.TotalFetches)
	}
	if bad := audit.Superseded + audit.Expired + audit.Unknown + audit.Missing; bad != 0 || audit.Valid != reads {
		t.Errorf("protected calls: %d valid of %d reads, %d rejected", audit.Valid, reads, bad)
	}
}

// TestUpstream_keepsTokenOnFailure: the classic endpoint answers an error
// when the token is due; the stored token is kept (and still valid at the
// upstream), the error and its code show in the refresher's state and in
// the status in Redis. Transient errors are retried and healed once the
// upstream recovers; 40164 (IP whitelist) is not retried soon.
func TestUpstream_keepsTokenOnFailure(t *testing.T) {
	t.Parallel()
	rs := redisserver.Start(t)
	oversized := `{"access_token":"` + strings.Repeat("A", 136) + `","expires_in":7200,"pad":"` +
		strings.Repeat("x", wechat.MaxBodyBytes) + `"}`
	for i, tc := range []struct {
		name  string
		fault wechattest.Fault
		code  int
		class string
		msg   string // part of the error text
	}{
		{"errcode -1", wechattest.Fault{Errcode: -1}, -1, "retry", "errcode -1"},
		{"http 502", wechattest.Fault{HTTPStatus: 502}, 0, "retry", "502"},
		{"html body", wechattest.Fault{Body: "<html><body><h1>Welcome to nginx!</h1></body></html>"}, 0, "retry", "malformed"},
		{"oversized body", wechattest.Fault{Body: oversized}, 0, "retry", "larger than"},
		{"errcode 40164", wechattest.Fault{Errcode: 40164}, 40164, "config", "40164"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wx := newUpstream(t, wechattest.Config{Lifetime: 2 * time.Second, Overlap: time.Second})
			hc := newHTTPClient(t, nil)
			l := startLeader(t, rs.Client(), fmt.Sprintf("fault%d", i), newClassic(t, wx, hc, time.Second), "wechat")
			wait.For(t, 2*time.Second, "first token", func() bool { return l.stored(t) != "" })
			good := l.stored(t)

			wx.SetFault(tc.fault)
			// The token is due after 1s (half its life).
			wait.For(t, 3*time.Second, "a failed refresh", func() bool { return l.state().LastError != "" })
			if got := l.stored(t); got != good {
				t.Fatalf("stored token replaced after a failed fetch (%s)", store.Fingerprint(got))
			}
			if code := wx.Check(good); code != 0 {
				t.Fatalf("kept token answers %d at the upstream", code)
			}
			st := l.state()
			if st.LastErrorCode != tc.code || st.LastErrorClass != tc.class || !strings.Contains(st.LastError, tc.msg) {
				t.Fatalf("state: code %d class %q error %q; want %d %q ~%q", st.LastErrorCode, st.LastErrorClass, st.LastError, tc.code, tc.class, tc.msg)
			}
			if strings.Contains(st.LastError, upSecret) {
				t.Fatal("the error shows the secret")
			}
			wait.For(t, time.Second, "status in Redis", func() bool {
				s := l.status(t)
				return s.LastError == st.LastError && s.LastErrorCode == tc.code
			})

			if tc.class != "retry" {
				wait.Holds(t, 3*200*time.Millisecond, "a single call after a config error", func() bool {
					return wx.Audit().Faults == 1
				})
				return
			}
			wait.For(t, 2*time.Second, "backoff retries", func() bool { return wx.Audit().Faults >= 3 })
			if got := l.stored(t); got != good {
				t.Fatal("stored token replaced while retrying")
			}
			wx.ClearFault()
			wait.For(t, 2*time.Second, "a new token once the upstream recovers", func() bool {
				tok := l.stored(t)
				return tok != "" && tok != good && wx.Check(tok) == 0
			})
			wait.For(t, time.Second, "error cleared", func() bool {
				return l.state().LastError == "" && l.status(t).LastError == "" && l.status(t).LastErrorCode == 0
			})
		})
	}
}

// TestUpstream_dailyQuotaStopsCalls: the fake's own daily quota (1 call)
// answers 45009 when the token is due; no further call reaches the upstream
// for the app, the stored token is kept, and the status says so.
func TestUpstream_dailyQuotaStopsCalls(t *testing.T) {
	t.Parallel()
	rs := redisserver.Start(t)
	wx := newUpstream(t, wechattest.Config{Lifetime: 2 * time.Second, Overlap: time.Second, DailyQuota: 1})
	l := startLeader(t, rs.Client(), "", newClassic(t, wx, newHTTPClient(t, nil), time.Second), "wechat")
	wait.For(t, 2*time.Second, "first token", func() bool { return l.stored(t) != "" })
	good := l.stored(t)
	attempts := func() int {
		a := wx.Audit()
		return a.Fetches[upAppID+"/token"] + a.Errors["token/45009"]
	}

	// The token is due after 1s (half its life).
	wait.For(t, 3*time.Second, "45009", func() bool { return l.state().LastErrorCode == 45009 })
	st := l.state()
	if st.LastErrorClass != "quota" || !st.NextRefresh.After(time.Now().Add(time.Minute)) {
		t.Fatalf("state after 45009: class %q, next refresh in %s", st.LastErrorClass, time.Until(st.NextRefresh))
	}
	wait.For(t, time.Second, "45009 in the status in Redis", func() bool {
		s := l.status(t)
		return s.LastErrorCode == 45009 && strings.Contains(s.LastError, "45009")
	})
	if got := l.stored(t); got != good || wx.Check(good) != 0 {
		t.Fatal("stored token replaced or dead after 45009")
	}
	if n := attempts(); n != 2 {
		t.Fatalf("%d calls, want 2 (one token, one 45009)", n)
	}
	wait.Holds(t, 4*200*time.Millisecond, "no call after 45009", func() bool { return attempts() == 2 })
}

// TestUpstream_pendingReportHonoursErrorWaits: after a passive refresh
// meets 45009 (stop until the quota day) or 40164 (retry every
// ConfigRetry), the report that caused it must not make the leader call the
// upstream again at every ReportPoll.
func TestUpstream_pendingReportHonoursErrorWaits(t *testing.T) {
	t.Parallel()
	rs := redisserver.Start(t)
	for i, code := range []int{45009, 40164} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			wx := newUpstream(t, wechattest.Config{})
			l := startLeader(t, rs.Client(), fmt.Sprintf("wait%d", i), newClassic(t, wx, newHTTPClient(t, nil), 0), "wechat")
			wait.For(t, 2*time.Second, "first token", func() bool { return l.stored(t) != "" })
			good := l.stored(t)
			wx.SetFault(wechattest.Fault{Errcode: code})
			l.report(t, good)
			wait.For(t, 2*time.Second, "the error", func() bool { return l.state().LastErrorCode == code })
			if l.stored(t) != good {
				t.Fatal("stored token replaced")
			}
			wait.Holds(t, 4*200*time.Millisecond, "a single call", func() bool { return wx.Audit().Faults == 1 })
		})
	}
}

// TestUpstream_reportStorm_oneFetch: 100 concurrent reports of the current
// token make the leader fetch exactly once; a report of the old token then
// fetches nothing.
func TestUpstream_reportStorm_oneFetch(t *testing.T) {
	t.Parallel()
	rs := redisserver.Start(t)
	wx := newUpstream(t, wechattest.Config{})
	l := startLeader(t, rs.Client(), "", newClassic(t, wx, newHTTPClient(t, nil), 0), "wechat")
	wait.For(t, 2*time.Second, "first token", func() bool { return l.stored(t) != "" })
	bad := l.stored(t)

	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.s.Report(context.Background(), upApp, bad); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	wait.For(t, 2*time.Second, "a new token", func() bool { tok := l.stored(t); return tok != "" && tok != bad })
	wait.For(t, time.Second, "reports cleared", func() bool { return l.pending(t) == 0 })
	wait.Holds(t, 3*200*time.Millisecond, "one fetch for 100 reports", func() bool { return fetchCount(wx, "token") == 2 })
	fresh := l.stored(t)
	if code := wx.Check(fresh); code != 0 {
		t.Fatalf("new token answers %d", code)
	}

	l.report(t, bad) // old token: compare-and-refresh finds it replaced
	wait.For(t, time.Second, "stale report cleared", func() bool { return l.pending(t) == 0 })
	wait.Holds(t, 2*200*time.Millisecond, "no fetch for an old token", func() bool {
		return fetchCount(wx, "token") == 2 && l.stored(t) == fresh
	})
}

// TestUpstream_passiveRefreshHealsRotation: someone else fetches a classic
// token (out of band), so the stored one dies after the overlap. A report
// of it makes the leader fetch once, and the new stored token is valid.
func TestUpstream_passiveRefreshHealsRotation(t *testing.T) {
	t.Parallel()
	rs := redisserver.Start(t)
	wx := newUpstream(t, wechattest.Config{Overlap: 300 * time.Millisecond})
	l := startLeader(t, rs.Client(), "", newClassic(t, wx, newHTTPClient(t, nil), 0), "wechat")
	wait.For(t, 2*time.Second, "first token", func() bool { return l.stored(t) != "" })
	old := l.stored(t)

	if wx.Rotate(upAppID) == "" {
		t.Fatal("rotate failed")
	}
	wait.For(t, 2*time.Second, "the stored token to die", func() bool { return wx.Check(old) == wechattest.CodeNotLatest })
	if got, n := l.stored(t), fetchCount(wx, "token"); got != old || n != 1 {
		t.Fatalf("before any report: %d fetches, stored token changed: %v", n, got != old)
	}

	l.report(t, old)
	wait.For(t, 2*time.Second, "a valid token after the report", func() bool {
		tok := l.stored(t)
		return tok != "" && tok != old && wx.Check(tok) == 0
	})
	wait.Holds(t, 2*200*time.Millisecond, "one fetch for the report", func() bool { return fetchCount(wx, "token") == 2 })
	if a := wx.Audit(); a.Issued[upAppID+"/token"] != 3 || a.OutOfBand[upAppID+"/token"] != 1 {
		t.Fatalf("audit: issued %v, out of band %v", a.Issued, a.OutOfBand)
	}
}

// TestUpstream_stable_normalModeDoesNotRotate: proactive refreshes of a
// stable token (5s life, the upstream rotates in its last 1s) get the same
// token back; Redis always holds it and it stays valid.
func TestUpstream_stable_normalModeDoesNotRotate(t *testing.T) {
	t.Parallel()
	rs := redisserver.Start(t)
	wx := newUpstream(t, wechattest.Config{Lifetime: 5 * time.Second, Overlap: time.Second})
	var log fetchLog
	p, err := wechat.NewStable(providerConfig(wx, newHTTPClient(t, log.wrap), time.Second))
	if err != nil {
		t.Fatal(err)
	}
	l := startLeader(t, rs.Client(), "", p, "wechat_stable")
	wait.For(t, 2*time.Second, "first token", func() bool { return l.stored(t) != "" })
	first := l.stored(t)

	// Refreshed at half-life: at ~2.5s (2.5s left, expires_in 2) and
	// ~3.5s (1.5s left, expires_in 1); the next, at ~4s, would fall in the
	// upstream's rotation window.
	wait.For(t, 5*time.Second, "3 stable_token calls", func() bool {
		if tok := l.stored(t); tok != first {
			t.Fatalf("stored token changed (%s) during normal-mode refreshes", store.Fingerprint(tok))
		}
		if code := wx.Check(first); code != 0 {
			t.Fatalf("stable token answers %d", code)
		}
		return fetchCount(wx, "stable_token") >= 3
	})
	a := wx.Audit()
	if a.Issued[upAppID+"/stable_token"] != 1 || a.Fetches[upAppID+"/stable_token_force"] != 0 {
		t.Fatalf("after %d normal calls: issued %v, fetches %v, sent at %v", a.Fetches[upAppID+"/stable_token"], a.Issued, a.Fetches, log.times())
	}
	wait.For(t, time.Second, "3 fetches in the state", func() bool { return l.state().Fetches >= 3 })
	if st := l.state(); st.LastError != "" {
		t.Fatalf("state %+v", st)
	}
}

// TestUpstream_stable_reportForcesWithinLimits: a report of the current
// stable token makes the provider force a new one; another report within
// ForceInterval does not force (the upstream's own interval is set tiny, so
// only the provider can hold back); after the interval it forces again, up
// to 20 a day (UTC+8), and again on the next day.
func TestUpstream_stable_reportForcesWithinLimits(t *testing.T) {
	t.Parallel()
	rs := redisserver.Start(t)
	wx := newUpstream(t, wechattest.Config{ForceInterval: time.Millisecond, ForceDailyLimit: 100})
	cst := time.FixedZone("UTC+8", 8*60*60)
	clk := testclock.NewFakeClock(time.Date(2026, 3, 2, 9, 0, 0, 0, cst))
	cfg := providerConfig(wx, newHTTPClient(t, nil), 0)
	cfg.Clock = clk
	p, err := wechat.NewStable(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := startLeader(t, rs.Client(), "", p, "wechat_stable")
	wait.For(t, 2*time.Second, "first token", func() bool { return l.stored(t) != "" })
	forces := func() int { return fetchCount(wx, "stable_token_force") }

	// forced reports the stored token and waits for a new one.
	forced := func(step int) {
		t.Helper()
		cur := l.stored(t)
		l.report(t, cur)
		wait.For(t, 2*time.Second, fmt.Sprintf("forced token %d", step), func() bool {
			tok := l.stored(t)
			return tok != "" && tok != cur && wx.Check(tok) == 0
		})
		if code := wx.Check(cur); code != wechattest.CodeNotLatest {
			t.Fatalf("force %d: the reported token answers %d, want 40001", step, code)
		}
		if n := forces(); n != step {
			t.Fatalf("%d force calls, want %d", n, step)
		}
	}
	// refused reports the stored token and checks that no force happens.
	refused := func(why string) {
		t.Helper()
		cur, normal := l.stored(t), fetchCount(wx, "stable_token")
		before := forces()
		l.report(t, cur)
		wait.For(t, 2*time.Second, "the report handled ("+why+")", func() bool {
			return l.pending(t) == 0 && fetchCount(wx, "stable_token") > normal
		})
		if forces() != before || l.stored(t) != cur || wx.Check(cur) != 0 {
			t.Fatalf("%s: forced anyway (%d force calls, token changed: %v)", why, forces(), l.stored(t) != cur)
		}
	}

	forced(1)
	refused("within ForceInterval")
	for step := 2; step <= wechat.ForceDailyLimit; step++ {
		clk.Step(wechat.ForceInterval)
		forced(step)
	}
	clk.Step(wechat.ForceInterval)
	refused("daily limit")
	clk.Step(24 * time.Hour)
	forced(wechat.ForceDailyLimit + 1)
}
