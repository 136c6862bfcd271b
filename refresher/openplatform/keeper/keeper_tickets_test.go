package keeper

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/platform"
)

// countingObserver counts what a Keeper tells its Observer.
type countingObserver struct {
	mu        sync.Mutex
	refreshes map[string]int // kind/outcome
	reports   map[string]int // outcome
	last      Summary
}

func newCountingObserver() *countingObserver {
	return &countingObserver{refreshes: map[string]int{}, reports: map[string]int{}}
}

func (o *countingObserver) AuthorizerRefreshed(_, kind, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.refreshes[kind+"/"+outcome]++
}

func (o *countingObserver) AuthorizerReport(_, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reports[outcome]++
}

func (o *countingObserver) AuthorizerStates(_ string, s Summary) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last = s
}

func (o *countingObserver) refreshed(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refreshes[key]
}

func (o *countingObserver) reported(outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reports[outcome]
}

// ticketEnv is a keeperEnv whose component keeps jsapi tickets, with
// Redis TIME following the fake clock (tickets are planned from it).
type ticketEnv struct {
	*keeperEnv
	obs *countingObserver
}

func newTicketEnv(t *testing.T) *ticketEnv {
	t.Helper()
	obs := newCountingObserver()
	ke := newKeeperEnvWith(t, func(c *Config) { c.Observer = obs })
	tk, err := wechat.NewTicket(wechat.TicketConfig{Kind: "jsapi", BaseURL: ke.fake.URL, MinExpiresIn: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ke.k.cfg.Tickets = map[string]TicketFetcher{"jsapi": tk}
	ke.mr.SetTime(ke.clk.Now())
	return &ticketEnv{keeperEnv: ke, obs: obs}
}

// advance moves the fake clock, Redis TIME and Redis TTLs by d.
func (e *ticketEnv) advance(d time.Duration) {
	e.clk.Step(d)
	e.mr.SetTime(e.clk.Now())
	e.mr.FastForward(d)
}

// run ticks every second for d, returning the calls made.
func (e *ticketEnv) run(d time.Duration) int {
	calls := 0
	for range int(d / time.Second) {
		calls += e.k.step(context.Background(), 20)
		e.advance(time.Second)
	}
	return calls
}

func (e *ticketEnv) ticketOf(t *testing.T, appid string) string {
	t.Helper()
	v, _ := e.mr.Get(e.st.Keys().Token(platform.AuthorizerTicketID("op", appid, "jsapi")))
	return v
}

// liveTickets counts the authorizers whose stored jsapi ticket the fake
// says is its live one.
func (e *ticketEnv) liveTickets(t *testing.T, ids []string) int {
	t.Helper()
	n := 0
	for _, id := range ids {
		v, err := e.mr.Get(e.st.Keys().Token(platform.AuthorizerTicketID("op", id, "jsapi")))
		if err == nil && e.fake.CheckTicket(v).Code == wechattest.CodeOK {
			n++
		}
	}
	return n
}

// TestKeeper_tickets_keptThroughRotationAndExpiry: every authorizer's
// jsapi ticket is fetched once with its token after the token; it stays
// the fake's live ticket while the tokens rotate (a refetch answers the
// same ticket, its first-seen expiry kept) and across the ticket's own
// expiry (asked again at it, about one call per ticket life); a raw
// reader GETs it under {tokend}:token:op/<appid>:jsapi.
func TestKeeper_tickets_keptThroughRotationAndExpiry(t *testing.T) {
	e := newTicketEnv(t)
	ids, err := e.fake.AddAuthorizers(appID, "wxt", 10)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.steps(t); n != 20 {
		t.Fatalf("first fill made %d calls, want 10 tokens + 10 tickets", n)
	}
	if got := e.liveTickets(t, ids); got != 10 {
		t.Fatalf("%d live tickets after the fill, want 10", got)
	}
	if s := e.k.Summary(); s.Tickets != 10 || s.TicketsValid != 10 {
		t.Fatalf("summary %+v", s)
	}
	first := e.ticketOf(t, ids[0])
	// Tokens rotate (due 2h-10m .. 2h-7.5m); the tickets are asked again
	// from their own due time on and answered unchanged; at their expiry
	// (2h after the first fetch) the fake issues new ones.
	for range 2 * 60 * 60 / 30 {
		e.run(30 * time.Second)
		e.writeComponentToken(t) // the refresher keeps it fresh
		if live := e.liveTickets(t, ids); live != 10 {
			t.Fatalf("at %s: %d of 10 stored tickets live", e.clk.Now().Sub(time.Unix(1_700_000_000, 0)), live)
		}
	}
	if e.ticketOf(t, ids[0]) == first {
		t.Fatal("the ticket never rolled over past its expiry")
	}
	if n := e.obs.refreshed("token/ok"); n < 10 {
		t.Fatalf("%d token refreshes, want every token rotated", n)
	}
	e.run(time.Minute) // counts are published at most every 5 ticks
	e.obs.mu.Lock()
	last := e.obs.last
	e.obs.mu.Unlock()
	if last != (Summary{Total: 10, Valid: 10, Tickets: 10, TicketsValid: 10}) {
		t.Fatalf("observer's counts %+v, want 10 valid with 10 valid tickets", last)
	}
	// Leadership ends: the counts read zero (only a leader knows them).
	e.k.cfg.Leading = func() (lock.Term, bool) { return lock.Term{}, false }
	e.k.step(context.Background(), 20)
	e.obs.mu.Lock()
	last = e.obs.last
	e.obs.mu.Unlock()
	if last != (Summary{}) {
		t.Fatalf("after leadership ended: %+v, want zeros", last)
	}
	a := e.fake.Audit()
	for _, id := range ids {
		// the first fetch, then one at the expiry (a second one a tick
		// later when the upstream has not rolled over yet).
		if n := a.Tickets[id+"/jsapi"]; n < 2 || n > 3 {
			t.Errorf("%s: %d ticket calls over one rollover, want 2..3", id, n)
		}
	}
}

// TestKeeper_tickets_neverWithDyingToken: a ticket is not fetched with a
// token in its last moments (plan.ParentEnd), nor without a valid token;
// it is fetched once the token is written again.
func TestKeeper_tickets_neverWithDyingToken(t *testing.T) {
	e := newTicketEnv(t)
	ctx := context.Background()
	ids, err := e.fake.AddAuthorizers(appID, "wxd", 1)
	if err != nil {
		t.Fatal(err)
	}
	e.steps(t)
	id := platform.AuthorizerID("op", ids[0])
	before := e.fake.Audit().Tickets[ids[0]+"/jsapi"]
	// A token of 10 s: ParentEnd is its last second.
	tk, err := e.st.TakeTicket(ctx, id, leaseValue, 0)
	if err != nil {
		t.Fatal(err)
	}
	tok := e.fake.CurrentAuthorizerToken(appID, ids[0])
	if _, err := e.st.WriteAuthorizerToken(ctx, store.Write{App: id, Ticket: tk, Token: tok, ExpiresIn: 10 * time.Second, SafetyMargin: 0},
		e.fake.AuthorizerRefreshToken(appID, ids[0])); err != nil {
		t.Fatal(err)
	}
	e.mr.FastForward(9*time.Second + 100*time.Millisecond)
	term := lock.Term{Value: leaseValue, Epoch: 1, ID: "a"}
	if e.k.refreshTicket(ctx, term, ids[0], "jsapi", e.clk.Now()) {
		t.Fatal("a ticket call with a token in its last second")
	}
	e.mr.FastForward(time.Second) // expired: no token at all
	if e.k.refreshTicket(ctx, term, ids[0], "jsapi", e.clk.Now()) {
		t.Fatal("a ticket call without a token")
	}
	if n := e.fake.Audit().Tickets[ids[0]+"/jsapi"]; n != before {
		t.Fatalf("ticket calls %d -> %d, want none", before, n)
	}
}

// TestKeeper_tickets_removedOnUnauthorize: an unauthorized authorizer's
// ticket keys go with it, no call is made for it again, and a ticket
// fetched before the event is not written back.
func TestKeeper_tickets_removedOnUnauthorize(t *testing.T) {
	e := newTicketEnv(t)
	ctx := context.Background()
	ids, err := e.fake.AddAuthorizers(appID, "wxu", 3)
	if err != nil {
		t.Fatal(err)
	}
	e.steps(t)
	gone := ids[1]
	if _, err := e.st.RemoveAuthorizer(ctx, "op", gone, []string{"jsapi"}); err != nil {
		t.Fatal(err)
	}
	e.k.notice(event.Notice{Kind: event.KindEvent, Event: event.Event{Type: event.Input, App: platform.AuthorizerID("op", gone)}})
	if e.ticketOf(t, gone) != "" {
		t.Fatal("ticket key left after unauthorize")
	}
	// A fetch in flight when the event came: refused, nothing written.
	tid := platform.AuthorizerTicketID("op", gone, "jsapi")
	tk, err := e.st.TakeTicket(ctx, tid, leaseValue, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.st.WriteAuthorizerTicket(ctx, store.Write{App: tid, Ticket: tk, Token: "late-ticket", ExpiresIn: time.Hour})
	if !errors.Is(err, platform.ErrAuthorizerGone) || e.ticketOf(t, gone) != "" {
		t.Fatalf("late write: %v, key %q; want ErrAuthorizerGone and nothing", err, e.ticketOf(t, gone))
	}
	before := e.fake.Audit().Tickets[gone+"/jsapi"]
	e.run(3 * time.Hour)
	if n := e.fake.Audit().Tickets[gone+"/jsapi"]; n != before {
		t.Fatalf("%d ticket calls for an unauthorized authorizer", n-before)
	}
	if s := e.k.Summary(); s.Total != 2 || s.Tickets != 2 {
		t.Fatalf("summary %+v, want 2 authorizers with 2 tickets", s)
	}
}

// TestKeeper_tickets_garbageInRedis: a ticket meta hash of garbage is
// one refetch that repairs it, never a loop of calls.
func TestKeeper_tickets_garbageInRedis(t *testing.T) {
	e := newTicketEnv(t)
	ids, err := e.fake.AddAuthorizers(appID, "wxg", 2)
	if err != nil {
		t.Fatal(err)
	}
	e.steps(t)
	tid := platform.AuthorizerTicketID("op", ids[0], "jsapi")
	e.mr.HSet(e.st.Keys().Meta(tid), "expires_at", "garbage")
	e.mr.HSet(e.st.Keys().Meta(platform.AuthorizerTicketID("op", ids[1], "jsapi")), "version", "-x")
	e.k.mu.Lock()
	e.k.epoch = 0 // a new term: every entry planned again from Redis
	e.k.mu.Unlock()
	before := e.fake.Audit().Tickets[ids[0]+"/jsapi"]
	e.run(time.Minute)
	if n := e.fake.Audit().Tickets[ids[0]+"/jsapi"] - before; n != 1 {
		t.Fatalf("%d ticket calls after garbage, want 1 (the repair)", n)
	}
	if live := e.liveTickets(t, ids); live != 2 {
		t.Fatalf("%d live tickets after the repair, want 2", live)
	}
}
