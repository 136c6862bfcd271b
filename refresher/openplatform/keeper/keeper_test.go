package keeper

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/platform"
)

const leaseValue = "lease-value"

// keeperEnv is env with a store on miniredis holding the component token
// and a Keeper driven step by step.
type keeperEnv struct {
	*env
	st *platform.Store
	k  *Keeper
	mr *miniredis.Miniredis
}

func newKeeperEnv(t *testing.T) *keeperEnv { return newKeeperEnvWith(t, nil) }

// newKeeperEnvWith is newKeeperEnv with edit applied to the Config.
func newKeeperEnvWith(t *testing.T, edit func(*Config)) *keeperEnv {
	t.Helper()
	e := newEnv(t)
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	base, err := store.New(store.Config{Client: rdb})
	if err != nil {
		t.Fatal(err)
	}
	st := platform.New(base)
	mr.Set(st.Keys().Lease(), leaseValue)
	cfg := Config{
		ComponentID: "op", Component: e.p, Store: st, Clock: e.clk, Rate: 20, Tick: time.Second,
		Leading: func() (lock.Term, bool) { return lock.Term{Value: leaseValue, Epoch: 1, ID: "a"}, true },
	}
	if edit != nil {
		edit(&cfg)
	}
	k, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ke := &keeperEnv{env: e, st: st, k: k, mr: mr}
	ke.writeComponentToken(t)
	return ke
}

// writeComponentToken fetches a new component token and writes it, as
// the refresher does.
func (e *keeperEnv) writeComponentToken(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	tok := e.componentToken(t)
	tk, err := e.st.TakeTicket(ctx, "op", leaseValue, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.WriteToken(ctx, store.Write{App: "op", Ticket: tk, Token: tok, ExpiresIn: 2 * time.Hour}); err != nil {
		t.Fatal(err)
	}
}

// steps runs ticks of one second until one makes no call; it returns
// the calls made.
func (e *keeperEnv) steps(t *testing.T) int {
	t.Helper()
	total := 0
	for range 1000 {
		n := e.k.step(context.Background(), 20)
		total += n
		if n == 0 {
			return total
		}
		e.clk.Step(time.Second)
	}
	t.Fatal("the keeper never settled")
	return 0
}

// TestKeeper_rebuildRefreshReauthorize: an empty hash is rebuilt from the
// list; every authorizer is fetched once at <= 20 a tick; nothing is
// fetched before its due time and everything again after; 61023 stops
// calls for that one until its refresh token changes; a lost hash is
// rebuilt again.
func TestKeeper_rebuildRefreshReauthorize(t *testing.T) {
	e := newKeeperEnv(t)
	ctx := context.Background()
	ids, err := e.fake.AddAuthorizers(appID, "wxk", 50)
	if err != nil {
		t.Fatal(err)
	}
	if n := e.steps(t); n != 50 {
		t.Fatalf("first fill made %d calls, want 50", n)
	}
	for _, id := range ids {
		rec, err := e.st.Record(ctx, platform.AuthorizerID("op", id))
		if err != nil || rec.Token != e.fake.CurrentAuthorizerToken(appID, id) {
			t.Fatalf("%s: %v, %v: not the fake's current token", id, rec, err)
		}
	}
	if s := e.k.Summary(); s.Valid != 50 || s.Total != 50 {
		t.Fatalf("summary %+v", s)
	}
	e.clk.Step(time.Hour)
	if n := e.steps(t); n != 0 {
		t.Fatalf("%d calls an hour into a 2h life", n)
	}
	e.fake.RevokeAuthorizer(appID, ids[0])
	e.clk.Step(55 * time.Minute) // past every due time (2h - 10m .. 2h - 5m)
	if n := e.steps(t); n != 50 {
		t.Fatalf("second cycle made %d calls, want 50", n)
	}
	if s := e.k.Summary(); s.NeedsReauthorization != 1 || s.Valid != 49 {
		t.Fatalf("after a revoke: %+v", s)
	}
	e.clk.Step(3 * time.Hour)
	e.writeComponentToken(t) // the refresher keeps it fresh
	if n := e.steps(t); n != 49 {
		t.Fatalf("third cycle made %d calls, want 49 (none for the revoked one)", n)
	}
	// A new authorization: the new refresh token is stored, the event read.
	e.reauthorize(t, ids[0])
	if n := e.steps(t); n != 1 {
		t.Fatalf("after re-authorization: %d calls, want 1", n)
	}
	if s := e.k.Summary(); s.Valid != 50 || s.NeedsReauthorization != 0 {
		t.Fatalf("after re-authorization: %+v, want 50 valid", s)
	}
	// The hash lost: rebuilt from the list before anything else.
	lost := 0
	_, _, _ = e.st.ScanAuthorizers(ctx, "op", 0, func(p []platform.Authorizer) error { lost += len(p); return nil })
	for _, id := range ids {
		if _, err := e.st.RemoveAuthorizer(ctx, "op", id, nil); err != nil {
			t.Fatal(err)
		}
	}
	e.clk.Step(10 * time.Second) // no event: the size check (HLEN) finds the loss
	e.steps(t)
	n, _, err := e.st.ScanAuthorizers(ctx, "op", 0, func([]platform.Authorizer) error { return nil })
	if err != nil || n != 50 || lost != 50 {
		t.Fatalf("after the loss: %d authorizers (%v), before %d; want 50", n, err, lost)
	}
}

// reauthorize has the fake issue a new refresh token for appid and stores
// it as the callback would, then delivers the event.
func (e *keeperEnv) reauthorize(t *testing.T, appid string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.fake.Authorize(ctx, appID, appid); err != nil {
		t.Fatal(err)
	}
	a := platform.Authorizer{AppID: appid, RefreshToken: e.fake.AuthorizerRefreshToken(appID, appid)}
	if err := e.st.PutAuthorizers(ctx, "op", a); err != nil {
		t.Fatal(err)
	}
	e.k.notice(event.Notice{Kind: event.KindEvent, Event: event.Event{Type: event.Input, App: platform.AuthorizerID("op", appid)}})
}
