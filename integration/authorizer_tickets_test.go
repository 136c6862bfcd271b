package integration

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store/platform"
)

const authTicketCount = 50

// TestAuthorizerTickets_keptAndReported: a component with tickets: [jsapi]
// on 3 replicas keeps a jsapi ticket for each of 50 authorizers; while
// their tokens and the tickets themselves roll over (both live 8s here),
// readers through random replicas are never handed a ticket the upstream
// does not hold live, and each ticket costs about one call per life; 30
// concurrent reports of one authorizer's current token collapse into one
// api_authorizer_token call.
func TestAuthorizerTickets_keptAndReported(t *testing.T) {
	e := newCompEnvWith(t, 300*time.Millisecond, authLifetime, map[string]any{"authorizer_rate": 400, "tickets": []string{"jsapi"}})
	ctx := context.Background()
	wait.For(t, 15*time.Second, "the component token", func() bool { return e.record().Valid() })
	for i := range authTicketCount {
		if p, err := e.srv.Authorize(ctx, compAppID, authAppID(i)); err != nil || p.Body != "success" {
			t.Fatalf("authorize %d: %+v, %v", i, p, err)
		}
	}
	wait.For(t, 30*time.Second, "every authorizer's ticket", func() bool { return e.validTickets(t) == authTicketCount })

	var served, dead, gaps atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			path := "/v1/components/" + compID + "/authorizers/" + authAppID(rand.N(authTicketCount)) + "/tickets/jsapi"
			code, body, err := e.procs[rand.N(len(e.procs))].Get(rctx, path)
			cancel()
			var ans struct {
				Ticket string `json:"ticket"`
			}
			switch {
			case err != nil:
			case code == http.StatusServiceUnavailable:
				gaps.Add(1)
			case code != 200 || json.Unmarshal(body, &ans) != nil || e.srv.CheckTicket(ans.Ticket).Code != wechattest.CodeOK:
				dead.Add(1)
			default:
				served.Add(1)
			}
		}
	})
	f0 := e.srv.AuthorizerStats(compAppID).TokenFetches
	start := time.Now()
	wait.Hold(t, 2*authLifetime, "two token lifetimes")
	e.checkReportCollapses(t, authAppID(7))
	close(stop)
	wg.Wait()
	f1 := e.srv.AuthorizerStats(compAppID).TokenFetches
	lives := int(time.Since(start)/authLifetime) + 2 // the first fill's and the last partial one
	a := e.srv.Audit()
	calls := 0
	for i := range authTicketCount {
		calls += a.Tickets[authAppID(i)+"/jsapi"]
	}
	t.Logf("%d ticket reads, %d dead, %d gaps; %d token fetches, %d ticket calls for %d authorizers",
		served.Load(), dead.Load(), gaps.Load(), f1-f0, calls, authTicketCount)
	// A ticket cannot be replaced before it expires (the upstream answers
	// the same one): from its expiry to the first ask that gets the new
	// one (a keeper tick, 200ms, and a fetch) readers get 503. Once per 8s
	// life here, once per 2h in production.
	if dead.Load() != 0 || served.Load() < 100 || gaps.Load() > served.Load()/20 {
		t.Errorf("served %d, dead %d, gaps %d: want 0 dead, at most 5%% gaps", served.Load(), dead.Load(), gaps.Load())
	}
	if f1-f0 < 2*authTicketCount {
		t.Errorf("%d token fetches in two lifetimes: the tokens did not rotate", f1-f0)
	}
	if calls > 2*lives*authTicketCount {
		t.Errorf("%d ticket calls for %d tickets in %d lives: want at most two a life", calls, authTicketCount, lives)
	}
	if n := e.validTickets(t); n != authTicketCount {
		t.Errorf("%d valid tickets at the end, want %d", n, authTicketCount)
	}
}

// validTickets counts the authorizers whose stored jsapi ticket (raw GET
// of {tokend}:token:<component>/<appid>:jsapi) is the fake's live one.
func (e *compEnv) validTickets(t *testing.T) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := 0
	for i := range authTicketCount {
		v, _ := e.rdb.Get(ctx, e.st.Keys().Token(platform.AuthorizerTicketID(compID, authAppID(i), "jsapi"))).Result()
		if v != "" && e.srv.CheckTicket(v).Code == wechattest.CodeOK {
			n++
		}
	}
	return n
}

// checkReportCollapses files 30 concurrent reports of appid's current
// token (the Redis recipe: HSET + PUBLISH) right after a proactive
// refresh, and expects one api_authorizer_token call for appid before its
// next due time.
func (e *compEnv) checkReportCollapses(t *testing.T, appid string) {
	t.Helper()
	ctx := context.Background()
	id := platform.AuthorizerID(compID, appid)
	v0 := e.authVersion(t, appid)
	wait.For(t, 2*authLifetime, appid+"'s next proactive refresh", func() bool { return e.authVersion(t, appid) > v0 })
	wait.Hold(t, 300*time.Millisecond, "past the cooldown (200ms)")
	rec, err := e.st.Record(ctx, id)
	if err != nil || !rec.Valid() {
		t.Fatalf("record of %s: %v", appid, err)
	}
	key := appid + "/authorizer_token"
	before := e.srv.Audit().Fetches[key]
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			if err := e.st.Report(ctx, id, rec.Token); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	wait.For(t, 3*time.Second, "the reported token replaced", func() bool { return e.authVersion(t, appid) > rec.Version })
	wait.Hold(t, 500*time.Millisecond, "any further call")
	if n := e.srv.Audit().Fetches[key] - before; n != 1 {
		t.Errorf("30 reports of %s's current token: %d calls, want 1", appid, n)
	}
	if p, _ := e.st.PendingReport(ctx, id); p != "" {
		t.Errorf("report of %s still pending after the refresh", appid)
	}
}
