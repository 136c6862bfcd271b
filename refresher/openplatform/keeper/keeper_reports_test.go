package keeper

import (
	"context"
	"testing"
	"time"

	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/platform"
)

// report files a report of tok for appid n times, as business apps do,
// and delivers the events.
func (e *ticketEnv) report(t *testing.T, appid, tok string, n int) {
	t.Helper()
	id := platform.AuthorizerID("op", appid)
	for range n {
		if err := e.st.Report(context.Background(), id, tok); err != nil {
			t.Fatal(err)
		}
		e.k.notice(event.Notice{Kind: event.KindEvent, Event: event.Event{Type: event.Report, App: id}})
	}
}

func (e *ticketEnv) tokenFetches() int { return e.fake.AuthorizerStats(appID).TokenFetches }

func (e *ticketEnv) stored(t *testing.T, appid string) string {
	t.Helper()
	rec, err := e.st.Record(context.Background(), platform.AuthorizerID("op", appid))
	if err != nil {
		t.Fatal(err)
	}
	return rec.Token
}

func (e *ticketEnv) pending(t *testing.T, appid string) string {
	t.Helper()
	tok, err := e.st.PendingReport(context.Background(), platform.AuthorizerID("op", appid))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestKeeper_reports_compareAndRefresh: fifty reports of an authorizer's
// current token collapse into one api_authorizer_token call and are
// cleared; a report of an older token, of garbage or of an authorizer
// not kept costs no call and is cleared; a report inside the cooldown
// waits for its end, then costs one call.
func TestKeeper_reports_compareAndRefresh(t *testing.T) {
	e := newTicketEnv(t)
	ids, err := e.fake.AddAuthorizers(appID, "wxr", 5)
	if err != nil {
		t.Fatal(err)
	}
	e.steps(t)
	e.run(time.Minute) // past the cooldown of the first fetch

	old := e.stored(t, ids[0])
	before := e.tokenFetches()
	e.report(t, ids[0], old, 50)
	e.run(5 * time.Second)
	if n := e.tokenFetches() - before; n != 1 {
		t.Fatalf("50 reports of the current token: %d calls, want 1", n)
	}
	if cur := e.stored(t, ids[0]); cur == old || cur != e.fake.CurrentAuthorizerToken(appID, ids[0]) {
		t.Fatal("the reported token was not replaced by the fake's current one")
	}
	if p := e.pending(t, ids[0]); p != "" {
		t.Fatal("report not cleared after the refresh")
	}
	if e.obs.reported("refresh") != 1 {
		t.Fatalf("observer: %v", e.obs.reports)
	}

	// Stale, garbage, unknown: no call, cleared.
	before = e.tokenFetches()
	e.run(time.Minute)
	e.report(t, ids[0], old, 3)
	e.report(t, ids[1], "garbage \x00 value", 1)
	e.report(t, "wxnobody", "whatever", 1)
	e.run(5 * time.Second)
	if n := e.tokenFetches() - before; n != 0 {
		t.Fatalf("stale, garbage and unknown reports: %d calls, want 0", n)
	}
	for _, a := range []string{ids[0], ids[1], "wxnobody"} {
		if p := e.pending(t, a); p != "" {
			t.Errorf("%s: report %q left pending", a, p)
		}
	}
	if e.obs.reported("stale") < 2 || e.obs.reported("ignored") != 1 {
		t.Fatalf("observer: %v", e.obs.reports)
	}

	// Cooldown: the token of ids[0] was fetched a minute ago; fetch
	// ids[2]'s again through a report, then report the new one at once.
	e.report(t, ids[2], e.stored(t, ids[2]), 1)
	e.run(2 * time.Second)
	fresh := e.stored(t, ids[2])
	before = e.tokenFetches()
	e.report(t, ids[2], fresh, 5)
	e.run(20 * time.Second)
	if n := e.tokenFetches() - before; n != 0 {
		t.Fatalf("a report inside the cooldown: %d calls before its end", n)
	}
	if e.pending(t, ids[2]) != fresh || e.obs.reported("cooldown") == 0 {
		t.Fatalf("report inside the cooldown not kept: %v", e.obs.reports)
	}
	e.run(15 * time.Second)
	if n := e.tokenFetches() - before; n != 1 {
		t.Fatalf("after the cooldown: %d calls, want 1", n)
	}
}

// TestKeeper_reports_garbageHashAndNewLeader: a reports key of the wrong
// type costs no call (the store repairs it); a report filed before the
// keeper led is found by its first full read.
func TestKeeper_reports_garbageHashAndNewLeader(t *testing.T) {
	e := newTicketEnv(t)
	ctx := context.Background()
	ids, err := e.fake.AddAuthorizers(appID, "wxn", 3)
	if err != nil {
		t.Fatal(err)
	}
	e.steps(t)
	e.run(time.Minute)
	before := e.tokenFetches()
	if err := e.mr.Set(e.st.Keys().Reports(), "not a hash"); err != nil {
		t.Fatal(err)
	}
	e.k.notice(event.Notice{Kind: event.KindEvent, Event: event.Event{Type: event.Report, App: platform.AuthorizerID("op", ids[0])}})
	e.run(5 * time.Second)
	if n := e.tokenFetches() - before; n != 0 {
		t.Fatalf("a wrong-typed reports key: %d calls", n)
	}
	// A report no event announced (lost, or filed before this term).
	if err := e.st.Report(ctx, platform.AuthorizerID("op", ids[1]), e.stored(t, ids[1])); err != nil {
		t.Fatal(err)
	}
	e.k.mu.Lock()
	e.k.epoch = 0 // a new term
	e.k.mu.Unlock()
	e.run(5 * time.Second)
	if n := e.tokenFetches() - before; n != 1 {
		t.Fatalf("a report from before the term: %d calls, want 1", n)
	}
}

// TestKeeper_tickets_rejectedTokenReported: a ticket call refused for the
// stored authorizer token reports that token (no event needed), the
// token is refreshed after the cooldown, and the ticket is fetched again
// with the new token.
func TestKeeper_tickets_rejectedTokenReported(t *testing.T) {
	e := newTicketEnv(t)
	ctx := context.Background()
	ids, err := e.fake.AddAuthorizers(appID, "wxj", 1)
	if err != nil {
		t.Fatal(err)
	}
	e.steps(t)
	id := platform.AuthorizerID("op", ids[0])
	tk, err := e.st.TakeTicket(ctx, id, leaseValue, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A token the upstream does not know (someone else's, or killed).
	if _, err := e.st.WriteAuthorizerToken(ctx, store.Write{App: id, Ticket: tk, Token: "bogus-token", ExpiresIn: 2 * time.Hour},
		e.fake.AuthorizerRefreshToken(appID, ids[0])); err != nil {
		t.Fatal(err)
	}
	e.mr.Del(e.st.Keys().Token(platform.AuthorizerTicketID("op", ids[0], "jsapi")))
	e.k.mu.Lock()
	e.k.entries[ids[0]].tickets["jsapi"].due = e.clk.Now()
	e.k.entries[ids[0]].tickets["jsapi"].expires = e.clk.Now()
	e.k.mu.Unlock()
	e.run(3 * time.Second)
	if e.obs.refreshed("jsapi/token_rejected") != 1 || e.pending(t, ids[0]) != "bogus-token" {
		t.Fatalf("rejection not reported: %v, pending %q", e.obs.refreshes, e.pending(t, ids[0]))
	}
	e.run(40 * time.Second) // the cooldown of the bogus write, then the refresh
	if e.stored(t, ids[0]) == "bogus-token" || e.liveTickets(t, ids) != 1 {
		t.Fatalf("token %q, live tickets %d: want a new token and its ticket", store.Fingerprint(e.stored(t, ids[0])), e.liveTickets(t, ids))
	}
	if n := e.obs.refreshed("jsapi/token_rejected"); n != 1 {
		t.Fatalf("%d rejected ticket calls, want 1 (the ticket waits for the new token)", n)
	}
}
