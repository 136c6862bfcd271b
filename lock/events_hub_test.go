package lock

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store/event"
)

// TestElector_sharedEvents_releaseWakesStandby: electors given a process's
// hub (Config.Events) open no subscription of their own and still hear a
// release at once.
func TestElector_sharedEvents_releaseWakesStandby(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	hub, err := event.NewHub(event.HubConfig{
		Subscribe: func(ctx context.Context) *redis.PubSub { return rdb.Subscribe(ctx, "{t}:events") },
		Logger:    quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx) }()
	defer func() { cancel(); <-done }()

	cfgA := fastConfig(rdb, "a")
	cfgA.Events = hub
	a, _ := New(cfgA)
	stopA := runElector(t, a, func(ctx context.Context, _ Term) { <-ctx.Done() })
	waitFor(t, "a leads", 2*time.Second, func() bool { _, ok := a.Leading(); return ok })
	cfgB := fastConfig(rdb, "b")
	cfgB.Events = hub
	cfgB.RetryInterval = time.Minute // only the announcement can wake b in time
	logB, capB := newCapture()
	cfgB.Logger = logB
	b, _ := New(cfgB)
	var bTerm atomic.Int64
	stopB := runElector(t, b, func(ctx context.Context, term Term) { bTerm.Store(term.Epoch); <-ctx.Done() })
	defer stopB()
	waitFor(t, "one subscription", 2*time.Second, func() bool { return mr.PubSubNumSub("{t}:events")["{t}:events"] == 1 })
	waitFor(t, "b stands by", 2*time.Second, func() bool { return capB.count("lock: standing by") == 1 })

	stopA()
	waitFor(t, "b leads after a released", 2*time.Second, func() bool { return bTerm.Load() != 0 })
	if n := mr.PubSubNumSub("{t}:events")["{t}:events"]; n != 1 {
		t.Fatalf("%d subscriptions for two electors on one hub, want 1", n)
	}
}
