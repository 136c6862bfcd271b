package integration

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
)

// Open Platform phase 1: the component token kept fresh by the leader from
// verify tickets WeChat pushes to any replica.
const (
	compID        = "op-main"
	compAppID     = "wxcomponent000it01"
	compSecret    = "it-component-secret"
	compMsgToken  = "it-msg-token"
	compAESKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	compLifetime  = 4 * time.Second
	compPushEvery = 300 * time.Millisecond
)

type compEnv struct {
	t       *testing.T
	srv     *wechattest.Server
	st      *store.Store
	cluster *harness.Cluster
	procs   []*harness.Process
	rdb     *redis.Client
}

// newCompEnv starts redis-server, the fake upstream (compLifetime tokens)
// and three replicas keeping mp-main and the component compID, then
// registers the component with the fake, its pushes going to the three
// replicas' callback URLs (pushEvery 0: no automatic pushes).
// startPushAfter is components[0].start_push_after ("" for the default).
func newCompEnv(t *testing.T, pushEvery time.Duration, startPushAfter string) *compEnv {
	t.Helper()
	extra := map[string]any{}
	if startPushAfter != "" {
		extra["start_push_after"] = startPushAfter
	}
	return newCompEnvWith(t, pushEvery, compLifetime, extra)
}

// newCompEnvWith is newCompEnv with the fake's token lifetime and further
// keys of components[0].
func newCompEnvWith(t *testing.T, pushEvery, lifetime time.Duration, compExtra map[string]any) *compEnv {
	t.Helper()
	rs := redisserver.Start(t)
	srv := wechattest.NewServer(wechattest.Config{Lifetime: lifetime, Overlap: time.Second, DailyQuota: -1})
	t.Cleanup(srv.Close)
	srv.AddApp(upstream, appSecret)
	comp := map[string]any{
		"id": compID, "appid": compAppID, "secret_env": "IT_OP_SECRET", "token_env": "IT_OP_TOKEN",
		"aes_key_env": "IT_OP_AES_KEY", "base_url": srv.URL,
	}
	for k, v := range compExtra {
		comp[k] = v
	}
	cfg := harness.Config{
		Redis:    harness.StandaloneRedis(rs.Addr, ""),
		Apps:     []harness.App{{ID: appID, AppID: upstream, Secret: appSecret, BaseURL: srv.URL}},
		LogLevel: "info",
		Env:      []string{"IT_OP_SECRET=" + compSecret, "IT_OP_TOKEN=" + compMsgToken, "IT_OP_AES_KEY=" + compAESKey},
		Extra:    map[string]any{"components": []any{comp}},
	}
	st, err := store.New(store.Config{Client: rs.Client()})
	if err != nil {
		t.Fatal(err)
	}
	e := &compEnv{t: t, srv: srv, st: st, cluster: harness.NewCluster(t, cfg), rdb: rs.Client()}
	e.procs = e.cluster.Start(3)
	e.cluster.WaitLeader(5*time.Second, nil)
	var urls []string
	for _, p := range e.procs {
		urls = append(urls, "http://"+p.Addr+"/callback/components/"+compID)
	}
	err = srv.AddComponent(wechattest.Component{
		AppID: compAppID, Secret: compSecret, Token: compMsgToken, EncodingAESKey: compAESKey,
		CallbackURLs: urls, PushEvery: pushEvery,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *compEnv) record() store.Record {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rec, _ := e.st.Record(ctx, compID)
	return rec
}

func (e *compEnv) verifyTicket() store.StoredVerifyTicket {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	v, _ := e.st.ReadVerifyTicket(ctx, compID)
	return v
}

// compRun is what happened while act ran, readers reading.
type compRun struct {
	s0, s1          wechattest.ComponentStats
	fetches, writes int
	served, dead    int64
}

// measure waits for the first component token, then runs act while
// readers read the component token from random replicas every 20ms and
// judge each with the fake (dead: the upstream refuses it).
func (e *compEnv) measure(t *testing.T, act func()) compRun {
	t.Helper()
	wait.For(t, 10*time.Second, "the first component token", func() bool { return e.record().Valid() })
	r := compRun{s0: e.srv.ComponentStats(compAppID)}
	v0 := e.record().Version
	stop := readTokens(e.srv, e.procs, 20*time.Millisecond, func() string { return "/v1/apps/" + compID + "/token" })
	act()
	reads := stop()
	r.s1 = e.srv.ComponentStats(compAppID)
	r.fetches, r.writes = r.s1.TokenFetches-r.s0.TokenFetches, int(e.record().Version-v0)
	r.served, r.dead = reads.served.Load(), reads.dead.Load()
	return r
}

// check asserts one fetch per write (+1 in flight or lost with a killed
// leader), at least 4 writes, readers served and none dead.
func (r compRun) check(t *testing.T) {
	t.Helper()
	if r.writes < 4 || r.fetches < r.writes || r.fetches > r.writes+1 {
		t.Errorf("fetches = %d, writes = %d: want one fetch per write (+1 in flight), at least 4 writes", r.fetches, r.writes)
	}
	if r.dead != 0 || r.served == 0 {
		t.Errorf("readers: %d served, %d dead; want some served and none dead", r.served, r.dead)
	}
}

// TestComponent_freshFromPushes: pushes land on random replicas; the
// leader keeps the component token fresh for four lifetimes with one
// fetch per write and no dead token served; an old push replayed never
// replaces the newer ticket; /v1/status shows the component.
func TestComponent_freshFromPushes(t *testing.T) {
	t.Parallel()
	e := newCompEnv(t, compPushEvery, "")
	r := e.measure(t, func() { wait.Hold(t, 4*compLifetime, "four lifetimes, readers reading") })
	s1 := r.s1
	perReplica := make([]int, len(e.procs))
	for i, p := range e.procs {
		perReplica[i] = p.LogContains("callback: verify ticket received")
	}
	t.Logf("figures: %s: fetches=%d writes=%d, pushes=%d (failed %d) per replica %v, start_push=%d, readers served=%d dead=%d",
		4*compLifetime, r.fetches, r.writes, s1.Pushes-r.s0.Pushes, s1.PushFailures-r.s0.PushFailures, perReplica,
		s1.StartPush, r.served, r.dead)
	r.check(t)
	for i, n := range perReplica {
		if n == 0 {
			t.Errorf("replica %s received no push", e.procs[i].ID)
		}
	}
	if s1.PushFailures != 0 || s1.StartPush != 0 || s1.TicketRefused != 0 {
		t.Errorf("stats %+v: want no failed push, no start_push, no refused ticket", s1)
	}

	before := e.verifyTicket()
	p, err := e.srv.ReplayPush(context.Background(), compAppID, 5)
	if err != nil || p.Body != "success" {
		t.Fatalf("replay: %+v, %v", p, err)
	}
	if after := e.verifyTicket(); after.CreateTime.Before(before.CreateTime) || after.Ticket == p.Ticket {
		t.Errorf("the replayed push (create_time %d) replaced the newer ticket (create_time %d)", p.CreateTime, before.CreateTime.Unix())
	}
	e.checkStatus(t)
}

// checkStatus: /v1/status of a follower lists the component credential,
// valid, with its provider.
func (e *compEnv) checkStatus(t *testing.T) {
	t.Helper()
	code, body, err := e.procs[0].Get(context.Background(), "/v1/status")
	var st struct {
		Apps []struct {
			ID, Provider string
			Valid        bool
		} `json:"apps"`
	}
	if err != nil || code != 200 || json.Unmarshal(body, &st) != nil {
		t.Fatalf("status: %d %v", code, err)
	}
	for _, a := range st.Apps {
		if a.ID == compID {
			if !a.Valid || a.Provider != "wechat_component" {
				t.Errorf("status of %s: valid %v provider %q", compID, a.Valid, a.Provider)
			}
			return
		}
	}
	t.Errorf("status lists no %s: %s", compID, body)
}

// TestComponent_stoppedPushesRestarted: the push stream stops; once the
// newest ticket is older than start_push_after (2s here), the leader calls
// api_start_push_ticket once, pushes resume and newer tickets are stored.
func TestComponent_stoppedPushesRestarted(t *testing.T) {
	t.Parallel()
	const after = 2 * time.Second
	e := newCompEnv(t, compPushEvery, after.String())
	wait.For(t, 10*time.Second, "the first component token", func() bool { return e.record().Valid() })
	// A loaded machine may delay pushes past start_push_after before the
	// stop (a start_push then is right): count from the stop.
	s0 := e.srv.ComponentStats(compAppID).StartPush
	e.srv.StopPushes(compAppID)
	last := e.verifyTicket()
	took := wait.For(t, 15*time.Second, "api_start_push_ticket called", func() bool { return e.srv.ComponentStats(compAppID).StartPush > s0 })
	wait.For(t, 5*time.Second, "a newer ticket stored", func() bool { return e.verifyTicket().CreateTime.After(last.CreateTime) })
	wait.Hold(t, 2*after, "pushes resumed: no further start_push")
	st := e.srv.ComponentStats(compAppID)
	t.Logf("figures: start_push called %s after the pushes stopped (start_push_after %s), calls since the stop=%d (before %d), pushing=%v",
		ms(took), after, st.StartPush-s0, s0, st.Pushing)
	if took < after-2*compPushEvery || st.StartPush-s0 != 1 || !st.Pushing {
		t.Errorf("start_push after %s (want >= about %s), %d calls since the stop (want 1), pushing %v", took, after, st.StartPush-s0, st.Pushing)
	}
	if !e.record().Valid() {
		t.Error("no valid component token after the restart")
	}
}

// TestComponent_noTicketAtStart: a new deployment has no verify ticket:
// no api_component_token call is made, the component shows waiting, the
// leader asks for pushes at once, and the pushed ticket brings the token.
func TestComponent_noTicketAtStart(t *testing.T) {
	t.Parallel()
	e := newCompEnv(t, 0, "2s")
	wait.For(t, 15*time.Second, "the component token after start_push", func() bool { return e.record().Valid() })
	st := e.srv.ComponentStats(compAppID)
	t.Logf("figures: stats %+v", st)
	if st.StartPush < 1 || st.TicketRefused != 0 || st.TokenFetches != 1 {
		t.Errorf("stats %+v: want start_push >= 1, no refused ticket, exactly one token fetch", st)
	}
}

// TestComponent_leaderKilled: the leader is SIGKILLed one lifetime in; a
// new leader takes over with the verify ticket in Redis, the component
// token stays fresh (no dead token served) and fetches stay at one per
// write (+1 for a fetch lost with the killed leader).
func TestComponent_leaderKilled(t *testing.T) {
	t.Parallel()
	e := newCompEnv(t, compPushEvery, "")
	var (
		leader, next *harness.Process
		took         time.Duration
	)
	r := e.measure(t, func() {
		wait.Hold(t, compLifetime, "one lifetime")
		leader, _ = e.cluster.WaitLeader(5*time.Second, nil)
		leader.Kill()
		next, took = e.cluster.WaitLeader(10*time.Second, e.cluster.Without(leader))
		wait.Hold(t, 3*compLifetime, "three lifetimes after the kill")
	})
	t.Logf("figures: leader %s killed, %s took over in %s; fetches=%d writes=%d, pushes ok=%d failed=%d (to the dead replica), readers served=%d dead=%d",
		leader.ID, next.ID, ms(took), r.fetches, r.writes, r.s1.Pushes-r.s0.Pushes, r.s1.PushFailures-r.s0.PushFailures, r.served, r.dead)
	r.check(t)
	if !e.record().Valid() {
		t.Error("no valid component token at the end")
	}
}
