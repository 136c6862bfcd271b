package refresher

import (
	"context"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store/event"
)

// TestRefresher_sharedEvents_reportWakesLeader: with the process's hub
// (Config.Events) the leader opens no subscription of its own, and a report
// event wakes it long before the next poll.
func TestRefresher_sharedEvents_reportWakesLeader(t *testing.T) {
	s, rdb, mr := miniStore(t)
	hub, err := event.NewHub(event.HubConfig{Subscribe: s.Subscribe, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx) }()
	defer func() { cancel(); <-done }()

	p := &fakeProvider{name: "up", lifetime: time.Hour}
	cfg := baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p})
	cfg.Events, cfg.ReportPoll, cfg.Cooldown = hub, time.Hour, time.Nanosecond // only the event can wake it
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	wait.For(t, 5*time.Second, "first token", func() bool { return token(t, rdb, s, "app") != "" })
	ch := s.Keys().Events()
	wait.For(t, 5*time.Second, "the leader listens", func() bool { return mr.PubSubNumSub(ch)[ch] == 1 })
	bad := token(t, rdb, s, "app")
	if err := s.Report(context.Background(), "app", bad); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 5*time.Second, "new token", func() bool { return token(t, rdb, s, "app") != bad })
	if n := mr.PubSubNumSub(ch)[ch]; n != 1 {
		t.Fatalf("%d subscriptions to the events channel, want the hub's only", n)
	}
}

// TestRefresher_reconnect_rewritesLostToken: after the events subscription
// reconnects (Redis restarted or failed over), the leader re-checks every
// app at once; an older record that survived in Redis is replaced by the
// leader's newest token without an upstream call and without waiting for
// a sweep, an audit or a report.
func TestRefresher_reconnect_rewritesLostToken(t *testing.T) {
	s, rdb, mr := miniStore(t)
	p := &fakeProvider{name: "up", lifetime: time.Hour}
	cfg := baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p})
	cfg.ReportPoll, cfg.Cooldown = time.Hour, time.Nanosecond // no sweep or audit in the test
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	ctx := context.Background()
	wait.For(t, 5*time.Second, "first token", func() bool { return token(t, rdb, s, "app") != "" })
	old := token(t, rdb, s, "app")
	oldMeta := rdb.HGetAll(ctx, s.Keys().Meta("app")).Val()
	if err := s.Report(ctx, "app", old); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 5*time.Second, "second token", func() bool { return token(t, rdb, s, "app") != old })
	newest := token(t, rdb, s, "app")
	// A promoted replica that missed the second write: the first record.
	rdb.Set(ctx, s.Keys().Token("app"), old, time.Hour)
	rdb.Del(ctx, s.Keys().Meta("app"))
	rdb.HSet(ctx, s.Keys().Meta("app"), oldMeta)
	calls := p.Calls()
	mr.Close()
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "the newest token written again", func() bool { return token(t, rdb, s, "app") == newest })
	if p.Calls() != calls {
		t.Fatalf("%d upstream calls to heal a lost write, want 0", p.Calls()-calls)
	}
}
