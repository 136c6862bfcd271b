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
