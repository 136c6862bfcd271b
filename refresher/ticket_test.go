package refresher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/utils/clock"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

// classicUpstream issues a new token per fetch (WeChat's classic
// endpoint); only the newest is live. rotate stands for someone else
// fetching a token out of band.
type classicUpstream struct {
	mu    sync.Mutex // guards the fields below
	n     int
	live  string
	calls int
	block chan struct{} // when set, a fetch waits for it
}

func (u *classicUpstream) Fetch(ctx context.Context, _ upstream.FetchRequest) (upstream.Token, error) {
	u.mu.Lock()
	block := u.block
	u.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return upstream.Token{}, ctx.Err()
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.n++
	u.calls++
	u.live = fmt.Sprintf("P%d", u.n)
	return upstream.Token{Value: u.live, ExpiresIn: time.Hour}, nil
}

func (u *classicUpstream) rotate() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.live = "out-of-band"
}

func (u *classicUpstream) isLive(tok string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return tok != "" && tok == u.live
}

func (u *classicUpstream) Calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

// Probe rejects every token but the live one, as getcallbackip does.
func (u *classicUpstream) Probe(_ context.Context, tok string) error {
	if !u.isLive(tok) {
		return &upstream.Error{Code: 40001, Message: "invalid credential", Class: upstream.ClassTokenRejected}
	}
	return nil
}

func budgetOf(t *testing.T, rdb *redis.Client, s *store.Store, app string) string {
	t.Helper()
	return rdb.HGet(context.Background(), s.Keys().Budget(app), "used").Val()
}

// TestRefresher_ticket_waitsForParent: with no parent token the ticket's
// upstream is not called; the parent's write wakes the ticket, which is
// fetched once with the parent's stored token.
func TestRefresher_ticket_waitsForParent(t *testing.T) {
	s, rdb, _ := miniStore(t)
	block := make(chan struct{})
	parent := &classicUpstream{block: block}
	ticket := &sameUpstream{clk: clock.RealClock{}, life: time.Hour}
	cfg := baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")},
		App{ID: "mp", Provider: parent, Kind: "wechat"},
		App{ID: "mp:jsapi", Provider: ticket, Parent: "mp", Repeat: upstream.RepeatSameFirstSeen})
	cfg.ReportPoll = time.Hour // only the parent's token event can wake the ticket
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	wait.For(t, 5*time.Second, "the ticket waiting for its parent", func() bool {
		st := r.States()[1]
		return st.Waiting == waitParent && st.WaitingFor == "mp"
	})
	if ticket.Calls() != 0 {
		t.Fatal("the ticket's upstream was called with no parent token")
	}
	wait.For(t, 5*time.Second, "the ticket's stored status", func() bool {
		st, err := s.Status(context.Background(), "mp:jsapi")
		return err == nil && st.Kind == "jsapi" && st.Parent == "mp" && st.Waiting == waitParent && st.WaitingFor == "mp"
	})
	close(block)
	// A bound, not a figure (5 s was overrun once in CI beside other builds).
	wait.For(t, 20*time.Second, "the ticket", func() bool { return token(t, rdb, s, "mp:jsapi") != "" })
	ticket.mu.Lock()
	defer ticket.mu.Unlock()
	if ticket.calls != 1 || ticket.reqs[0].ParentToken != token(t, rdb, s, "mp") {
		t.Fatalf("%d ticket calls, parent token %q: want one, with the stored parent token", ticket.calls, ticket.reqs[0].ParentToken)
	}
}

// TestRefresher_ticket_parentRejected_heals (acceptance): the parent
// token was rotated out of band; the ticket's call with it is rejected,
// which reports the parent (compare-and-refresh), and the ticket heals
// with one token fetch and one successful ticket fetch. Ticket fetches
// never spend the parent's budget.
func TestRefresher_ticket_parentRejected_heals(t *testing.T) {
	s, rdb, _ := miniStore(t)
	parent := &classicUpstream{}
	ticket := &sameUpstream{clk: clock.RealClock{}, life: time.Hour, valid: parent.isLive}
	cs := &countingStore{Store: s}
	cfg := baseConfig(cs, fixedElector{fixedTerm(t, s, rdb, "L")},
		App{ID: "mp", Provider: parent}, App{ID: "mp:jsapi", Provider: ticket, Parent: "mp", Repeat: upstream.RepeatSameFirstSeen})
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	wait.For(t, 5*time.Second, "token and ticket", func() bool { return token(t, rdb, s, "mp:jsapi") != "" })
	p1, t1 := token(t, rdb, s, "mp"), token(t, rdb, s, "mp:jsapi")
	parent.rotate()
	waitCooldownOver(t, s, "mp", cfg.Cooldown)
	waitCooldownOver(t, s, "mp:jsapi", cfg.Cooldown)
	// A page's signature failed: the ticket is reported.
	if err := s.Report(context.Background(), "mp:jsapi", t1); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 5*time.Second, "a new parent token", func() bool { return token(t, rdb, s, "mp") != p1 })
	wait.For(t, 5*time.Second, "the ticket fetched with it", func() bool { return ticket.Calls() == 3 })
	wait.For(t, 5*time.Second, "the ticket's report served", func() bool {
		m, err := s.PendingReports(context.Background())
		return err == nil && len(m) == 0
	})
	cs.waitPolls(t, 2) // nothing more happens
	if n, m := parent.Calls(), ticket.Calls(); n != 2 || m != 3 {
		t.Fatalf("%d token fetches, %d ticket calls: want 2 (the first, one to heal) and 3 (the first, one rejected, one to heal)", n, m)
	}
	ticket.mu.Lock()
	rejected, last := ticket.reqs[1], ticket.reqs[2]
	ticket.mu.Unlock()
	if rejected.ParentToken != p1 || last.ParentToken != token(t, rdb, s, "mp") || last.Invalid != t1 {
		t.Fatalf("ticket calls made with %+v, then %+v", rejected, last)
	}
	if got := budgetOf(t, rdb, s, "mp"); got != "2" {
		t.Fatalf("the parent's budget used %s, want 2: ticket fetches must not spend it", got)
	}
	if got := budgetOf(t, rdb, s, "mp:jsapi"); got != "3" {
		t.Fatalf("the ticket's budget used %s, want 3", got)
	}
	if st := r.States()[1]; st.Waiting != "" || st.LastError != "" {
		t.Fatalf("ticket state after healing %+v", st)
	}
}

// TestNew_kinds: the kind rules New enforces.
func TestNew_kinds(t *testing.T) {
	s, _, _ := miniStore(t)
	p, pr := &fakeProvider{}, &classicUpstream{}
	tok := App{ID: "mp", Provider: p}
	for _, tc := range []struct {
		name, field string
		apps        []App
	}{
		{"ticket of a token", "", []App{tok, {ID: "mp:jsapi", Provider: p, Parent: "mp"}}},
		{"ticket id without a parent", "Apps[1].Parent", []App{tok, {ID: "mp:jsapi", Provider: p}}},
		{"ticket named after another app", "Apps[1].ID", []App{tok, {ID: "xx:jsapi", Provider: p, Parent: "mp"}}},
		{"ticket id without a kind", "Apps[1].ID", []App{tok, {ID: "mp2", Provider: p, Parent: "mp"}}},
		{"parent not configured", "Apps[0].Parent", []App{{ID: "mp:jsapi", Provider: p, Parent: "mp"}}},
		{"parent is a ticket: not a credential id", "Apps[2].ID", []App{tok, {ID: "mp:jsapi", Provider: p, Parent: "mp"},
			{ID: "mp:jsapi:x", Provider: p, Parent: "mp:jsapi"}}},
		{"kind differs from the id", "Apps[1].Kind", []App{tok, {ID: "mp:jsapi", Kind: "wx_card", Provider: p, Parent: "mp"}}},
		{"unknown repeat", "Apps[0].Repeat", []App{{ID: "mp", Provider: p, Repeat: 7}}},
		{"probe without prober", "Apps[0].Prober", []App{{ID: "mp", Provider: p, ProbeEvery: time.Minute}}},
		{"negative probe", "Apps[0].ProbeEvery", []App{{ID: "mp", Provider: p, Prober: pr, ProbeEvery: -1}}},
		{"probe of a ticket", "Apps[1].Prober", []App{tok, {ID: "mp:jsapi", Provider: p, Parent: "mp", Prober: pr, ProbeEvery: time.Minute}}},
		{"probed token", "", []App{{ID: "mp", Provider: p, Prober: pr, ProbeEvery: time.Minute}}},
		{"bad budget", "Apps[0].Budgets", []App{{ID: "mp", Provider: p, Budgets: []store.Budget{{Key: "a b", Limit: 1, Window: time.Hour}}}}},
		{"budget twice", "Apps[0].Budgets", []App{{ID: "mp", Provider: p, Budgets: []store.Budget{
			{Key: "corp", Limit: 1, Window: time.Hour}, {Key: "corp", Limit: 2, Window: time.Hour}}}}},
		{"budgets", "", []App{{ID: "mp", Provider: p, Budgets: []store.Budget{
			{Key: "corp", Limit: 400, Window: time.Hour}, {Key: "mp", Limit: 100, Window: time.Hour}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(Config{Store: s, Elector: fixedElector{}, Apps: tc.apps})
			var fe *FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Fatalf("New: err = %v, want a FieldError for %s", err, tc.field)
			case tc.field == "" && len(tc.apps) > 1 && r.States()[1].Kind != "jsapi":
				t.Fatalf("a ticket's kind defaults to the id's: %+v", r.States()[1])
			}
		})
	}
}
