package integration

import (
	"testing"
	"time"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// healLifetime outlives each scenario below: no proactive refresh (at half
// life) happens while it runs.
const healLifetime = 30 * time.Second

// wechatKindEnv is a kindEnv of the wechat kind with tickets and probe
// as given, healLifetime tokens and tickets, a 300ms overlap and three
// replicas, with every credential's first value stored.
func wechatKindEnv(t *testing.T, tickets []string, probe time.Duration) *kindEnv {
	t.Helper()
	kc := kindCases()[0]
	kc.tickets = tickets
	e := newKindEnvWith(t, kc, wechattest.Config{
		Lifetime: healLifetime, TicketLifetime: healLifetime, Overlap: 300 * time.Millisecond, DailyQuota: -1,
	}, func(a *harness.App) { a.Probe = probe })
	e.cluster.Start(3)
	e.cluster.WaitLeader(5*time.Second, nil)
	e.waitAll(10*time.Second, "the first value of every credential")
	return e
}

// TestTicket_parentRotatedOutOfBand: someone rotates the parent token out
// of band, and once it is dead the ticket dies too (RotateTicket), so the
// ticket needs a fetch: its readers report it. The ticket call with the
// dead parent is a report of the parent: exactly one token fetch, one
// ticket call with the dead token and one successful ticket fetch heal
// both, and the ticket's readers stop getting the dead ticket within
// healBound.
func TestTicket_parentRotatedOutOfBand(t *testing.T) {
	t.Parallel()
	const healBound = 2 * time.Second
	e := wechatKindEnv(t, []string{"jsapi"}, 0)
	tok, tick := e.creds[0], e.creds[1]
	tokChk := harness.StartChecker(t, harness.CheckerConfig{
		Server: e.srv, Redis: e.rdb, App: tok.id, Check: harness.CheckToken, Owner: tok.owner, Kind: tok.kind,
	})
	tickChk := harness.StartChecker(t, harness.CheckerConfig{
		Server: e.srv, Redis: e.rdb, App: tick.id, Check: harness.CheckTicket, Owner: tick.owner, Kind: tick.kind, Report: true,
	})
	oldTok, oldTick := e.record(tok.id), e.record(tick.id)
	a0 := e.srv.Audit()

	if e.srv.Rotate(e.kc.appid) == "" {
		t.Fatal("Rotate: unknown appid")
	}
	wait.For(t, 2*time.Second, "the old token dead at the upstream", func() bool { return !tok.live(e.srv, oldTok.Token) })
	killed := time.Now()
	if e.srv.RotateTicket(e.kc.appid, "jsapi") == "" {
		t.Fatal("RotateTicket: no such ticket")
	}
	healed := wait.For(t, 5*time.Second, "a new token and ticket stored", func() bool {
		nt, nk := e.record(tok.id), e.record(tick.id)
		return nt.Token != oldTok.Token && nk.Token != oldTick.Token && tick.live(e.srv, nk.Token)
	})
	wait.Hold(t, time.Second, "no further calls after the heal, readers checking")
	tst, kst := tokChk.Stop(), tickChk.Stop()
	a1 := e.srv.Audit()
	tokFetches, tickFetches := tok.calls(a1)-tok.calls(a0), tick.calls(a1)-tick.calls(a0)
	refused := a1.Superseded - a0.Superseded

	lastDead := kst.Get.LastDead
	if kst.Lib.LastDead.After(lastDead) {
		lastDead = kst.Lib.LastDead
	}
	t.Logf("figures: heal %s after the ticket died: token fetches=%d, ticket calls refused for the dead token=%d, ticket fetches=%d; ticket readers: dead=%d (last at +%s, bound %s), reports=%d; token readers (no reports): dead=%d; ticket %s; token %s",
		ms(healed), tokFetches, refused, tickFetches, kst.DeadTotal(), ms(lastDead.Sub(killed)), ms(healBound),
		kst.Get.Reports+kst.Lib.Reports, tst.DeadTotal(), kst, tst)
	if tokFetches != 1 || tickFetches != 1 || refused != 1 {
		t.Errorf("token fetches = %d, refused ticket calls = %d, ticket fetches = %d: want 1, 1, 1", tokFetches, refused, tickFetches)
	}
	if kst.DeadTotal() == 0 {
		t.Errorf("no reader was handed the dead ticket: the scenario did not happen")
	}
	if d := lastDead.Sub(killed); d > healBound {
		t.Errorf("readers were handed the dead ticket until %s after it died, want <= %s", ms(d), ms(healBound))
	}
}

// TestProbe_outOfBandRotation: with probe set, an out-of-band rotation of
// a classic token is found by the leader's probe within one probe interval
// (+ one fetch) after the old token stops working, with no reader
// reporting it, and healed with exactly one fetch.
func TestProbe_outOfBandRotation(t *testing.T) {
	t.Parallel()
	const probe = 2 * time.Second
	e := wechatKindEnv(t, nil, probe)
	tok := e.creds[0]
	chk := harness.StartChecker(t, harness.CheckerConfig{
		Server: e.srv, Redis: e.rdb, App: tok.id, Check: harness.CheckToken, Owner: tok.owner, Kind: tok.kind,
	})
	probes := func() int { return e.srv.Audit().Probes[e.kc.appid+"/getcallbackip"] }
	wait.For(t, 2*probe, "a first probe of the stored token", func() bool { return probes() > 0 })
	old := e.record(tok.id)
	a0 := e.srv.Audit()

	rotated := time.Now()
	if e.srv.Rotate(e.kc.appid) == "" {
		t.Fatal("Rotate: unknown appid")
	}
	wait.For(t, 2*time.Second, "the old token dead at the upstream", func() bool { return !tok.live(e.srv, old.Token) })
	died := time.Now()
	healed := wait.For(t, 2*probe+2*time.Second, "a new token stored", func() bool {
		return e.record(tok.id).Token != old.Token
	})
	wait.Hold(t, probe, "a probe interval after the heal: no further fetch")
	st := chk.Stop()
	a1 := e.srv.Audit()
	fetches := tok.calls(a1) - tok.calls(a0)

	t.Logf("figures: rotation; old token dead at +%s; new token stored %s after it died (bound: probe %s + %s); fetches=%d; probes seeing the dead token=%d, probes in all=%d; readers (no reports): dead=%d reports=%d; %s",
		ms(died.Sub(rotated)), ms(healed), ms(probe), ms(fetchSlack), fetches, a1.Superseded-a0.Superseded,
		a1.Probes[e.kc.appid+"/getcallbackip"], st.DeadTotal(), st.Get.Reports+st.Lib.Reports, st)
	if healed > probe+fetchSlack {
		t.Errorf("the rotation was healed %s after the old token died, want <= one probe interval %s + %s", ms(healed), ms(probe), ms(fetchSlack))
	}
	if fetches != 1 {
		t.Errorf("fetches = %d after the rotation, want 1", fetches)
	}
	if a1.Superseded-a0.Superseded < 1 {
		t.Errorf("no probe call with the dead token reached the upstream: not healed by the probe")
	}
}
