package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
)

// faultKind is one upstream misbehaviour and the reaction tokend owes it.
type faultKind struct {
	name  string
	fault wechattest.Fault
	code  int    // expected last_error_code (0: none)
	text  string // expected in last_error
	// attempts are the fewest and most upstream calls in faultWindow after
	// the first failure: transient errors back off 0.5-1s, then 1-2s;
	// configuration errors wait 5m, the daily quota until the next day.
	attempts [2]int
}

const faultWindow = 2 * time.Second

var faultKinds = []faultKind{
	{"busy-1", wechattest.Fault{Errcode: -1}, -1, "errcode -1", [2]int{2, 3}},
	{"http502", wechattest.Fault{HTTPStatus: 502}, 0, "502", [2]int{2, 3}},
	{"garbage-html", wechattest.Fault{Body: "<html><body>gateway</body></html>"}, 0, "upstream", [2]int{2, 3}},
	{"garbage-json", wechattest.Fault{Body: `{"access_token": 42, "expires_in": "soon"`}, 0, "upstream", [2]int{2, 3}},
	{"ip-whitelist-40164", wechattest.Fault{Errcode: 40164}, 40164, "40164", [2]int{1, 1}},
	{"daily-quota-45009", wechattest.Fault{Errcode: 45009}, 45009, "45009", [2]int{1, 1}},
}

// TestUpstreamFaults: while the token endpoint fails (-1, 5xx, garbage
// bodies, 40164, 45009) the stored token is kept and keeps working,
// /v1/status shows the error, and the number of upstream calls follows the
// error's class (backoff; slow retry; stop). A second app whose upstream
// hangs past the client timeout keeps its token until the token's key
// really expires, then readers find no token (never a dead one) until the
// retry succeeds.
func TestUpstreamFaults(t *testing.T) {
	const lifetime, slowLifetime = 10 * time.Second, 8 * time.Second
	slow := wechattest.NewServer(wechattest.Config{Lifetime: slowLifetime, Overlap: time.Second, DailyQuota: -1})
	t.Cleanup(slow.Close)
	const slowApp, slowUpstream = "mp-slow", "wx00000000000it002"
	slow.AddApp(slowUpstream, appSecret)
	e := newEnv(t, envOptions{Lifetime: lifetime, Overlap: time.Second, Tweak: func(c *harness.Config) {
		c.Apps = append(c.Apps, harness.App{ID: slowApp, AppID: slowUpstream, Secret: appSecret, BaseURL: slow.URL})
	}})
	e.cluster.Start(2)
	leader, _ := e.cluster.WaitLeader(5*time.Second, nil)
	e.waitVersion(0, 5*time.Second)
	st, err := store.New(store.Config{Client: e.rdb})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wait.For(t, 5*time.Second, "a token of "+slowApp, func() bool { return e.rdb.Exists(ctx, keys.Token(slowApp)).Val() == 1 })
	chk := e.checker(false)
	slowChk := harness.StartChecker(t, harness.CheckerConfig{Server: slow, Redis: e.rdb, App: slowApp, AppID: slowUpstream, LibReaders: -1})

	var wg sync.WaitGroup
	wg.Go(func() { slowUpstreamTimeout(t, e, st, slow, slowApp, slowUpstream, slowLifetime) })
	for _, k := range faultKinds {
		t.Run(k.name, func(t *testing.T) { leader = runFault(t, ctx, e, st, leader, k) })
	}
	wg.Wait()
	s, slowSt := chk.Stop(), slowChk.Stop()
	t.Logf("figures: %s: dead=%d; %s", appID, s.DeadTotal(), s)
	t.Logf("figures: %s: dead=%d; %s", slowApp, slowSt.DeadTotal(), slowSt)
	assertNoDead(t, s)
	assertNoDead(t, slowSt)
}

func appStatus(ctx context.Context, p *harness.Process, app string) (harness.AppStatus, error) {
	s, err := p.Status(ctx)
	if err != nil {
		return harness.AppStatus{}, err
	}
	for _, a := range s.Apps {
		if a.ID == app {
			return a, nil
		}
	}
	return harness.AppStatus{}, fmt.Errorf("no app %s in status", app)
}

// runFault installs one fault, makes the leader fetch (a report of the
// current token), and checks status, the stored token and the attempts. It
// returns the leader after recovery.
func runFault(t *testing.T, ctx context.Context, e *env, st *store.Store, leader *harness.Process, k faultKind) *harness.Process {
	tok := e.storedToken()
	if tok == "" {
		t.Fatal("no stored token before the fault")
	}
	v, faults0 := e.version(), e.srv.Audit().Faults
	e.srv.SetFault(k.fault)
	defer e.srv.ClearFault()
	if err := st.Report(ctx, appID, tok); err != nil {
		t.Fatal(err)
	}
	var as harness.AppStatus
	wait.For(t, 3*time.Second, "the error in /v1/status", func() bool {
		var err error
		as, err = appStatus(ctx, leader, appID)
		return err == nil && as.LastError != ""
	})
	wait.Hold(t, faultWindow, "the fault lasts: the error class's retry schedule plays out")
	attempts := e.srv.Audit().Faults - faults0
	kept := e.storedToken()
	code := e.srv.Check(kept)
	t.Run("reports-during-fault", func(t *testing.T) { reportsDuringFault(t, ctx, e, st, k, tok) })

	// Recovery: the fault is gone. A transient error's next backoff step
	// (up to 8s after three failures)
	// takes the pending report. The slow retry (5m) and the quota stop
	// (until the next day) are not shortened by reports; there recovery is
	// a leader handover, whose sweep finds the pending report.
	e.srv.ClearFault()
	if k.attempts[1] == 1 {
		leader.Term(5 * time.Second)
		e.cluster.Add("after-" + k.name)
		leader, _ = e.cluster.WaitLeader(5*time.Second, e.cluster.Alive())
	}
	if err := st.Report(ctx, appID, tok); err != nil {
		t.Fatal(err)
	}
	took := wait.For(t, 10*time.Second, "a new token after the fault cleared", func() bool { return e.version() > v })
	after, _ := appStatus(ctx, leader, appID)

	t.Logf("figures: %s: status last_error_code=%d last_error=%q; upstream calls in %s=%d (want %d..%d); token kept=%v (upstream answers %d); recovered %s after clearing; status error after=%q",
		k.name, as.LastErrorCode, as.LastError, ms(faultWindow), attempts, k.attempts[0], k.attempts[1], kept == tok, code, ms(took), after.LastError)
	if k.code != 0 && as.LastErrorCode != k.code {
		t.Errorf("status last_error_code = %d, want %d", as.LastErrorCode, k.code)
	}
	if !strings.Contains(as.LastError, k.text) {
		t.Errorf("status last_error = %q, want it to mention %q", as.LastError, k.text)
	}
	if attempts < k.attempts[0] || attempts > k.attempts[1] {
		t.Errorf("upstream calls during the fault = %d, want %d..%d", attempts, k.attempts[0], k.attempts[1])
	}
	if kept != tok || code != 0 {
		t.Errorf("stored token changed or died during the fault (same=%v, upstream answers %d)", kept == tok, code)
	}
	if after.LastError != "" {
		t.Errorf("status still shows %q after recovery", after.LastError)
	}
	return leader
}

// slowUpstreamTimeout: the upstream of app hangs past the provider's 10s
// client timeout once. The stored token is served until its key expires
// (lifetime minus the 10% safety margin), then not at all, and the retry
// after the timeout stores a new one. Runs in its own goroutine: it
// reports with t.Errorf only.
func slowUpstreamTimeout(t *testing.T, e *env, st *store.Store, srv *wechattest.Server, app, appid string, lifetime time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	tok := e.rdb.Get(ctx, keys.Token(app)).Val()
	v, _ := e.rdb.HGet(ctx, keys.Meta(app), "version").Int64()
	start := time.Now()
	srv.SetFault(wechattest.Fault{Delay: 11 * time.Second, Remaining: 1})
	if err := st.Report(ctx, app, tok); err != nil {
		t.Errorf("report: %v", err)
		return
	}
	var gone, back time.Duration
	wait.Poll(25*time.Second-time.Since(start), func() bool {
		cur := e.rdb.Get(ctx, keys.Token(app)).Val()
		switch {
		case cur == "" && gone == 0:
			gone = time.Since(start)
		case cur != "" && cur != tok:
			back = time.Since(start)
		case cur == tok && srv.Check(tok) != 0:
			t.Errorf("%s: the stored token is dead at the upstream (%d) while still in Redis", app, srv.Check(tok))
		}
		return back != 0
	})
	nv, _ := e.rdb.HGet(ctx, keys.Meta(app), "version").Int64()
	t.Logf("figures: %s timeout: token key gone at +%s (lifetime %s), new token at +%s, writes=%d, upstream fetches=%d",
		app, ms(gone), lifetime, ms(back), nv-v, srv.Audit().Fetches[appid+"/token"])
	if back == 0 {
		t.Errorf("%s: no new token within 25s of a 10s upstream timeout", app)
	}
	if gone == 0 || gone > lifetime {
		t.Errorf("%s: token key gone at %s, want before its lifetime %s ends (the fetch hung 10s)", app, gone, lifetime)
	}
	if nv-v != 1 {
		t.Errorf("%s: %d writes after the timeout, want 1", app, nv-v)
	}
}

// reportsDuringFault: reports of the current token arriving while the
// fault lasts must not add upstream calls beyond the error class's
// schedule: none during the slow retry of a configuration error or the
// quota stop, at most one for a transient error (its next backoff step).
func reportsDuringFault(t *testing.T, ctx context.Context, e *env, st *store.Store, k faultKind, tok string) {
	const reports = 4
	allowed := 1
	if k.attempts[1] == 1 {
		allowed = 0
	}
	f0 := e.srv.Audit().Faults
	for range reports {
		if err := st.Report(ctx, appID, tok); err != nil {
			t.Fatal(err)
		}
		wait.Hold(t, 150*time.Millisecond, "reports spread over the fault")
	}
	wait.Hold(t, 100*time.Millisecond, "the last report's effect, if any, reaches the upstream")
	extra := e.srv.Audit().Faults - f0
	t.Logf("figures: %s: %d reports in %s caused %d upstream calls (allowed %d)", k.name, reports, ms(700*time.Millisecond), extra, allowed)
	if extra > allowed {
		t.Errorf("reports bypassed the %s schedule (backoff / 5m config retry / quota stop): %d reports -> %d upstream calls, allowed %d",
			k.name, reports, extra, allowed)
	}
}
