package lock

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/integration/redisserver"
)

// TestLease_Renew_stalledSocket (issue 11 item 1): the leader's client
// talks through a proxy that stalls both directions, with a 30s socket
// timeout and no ContextTimeoutEnabled, so a renewal blocks on the socket
// far beyond the lease. The leader's work must still be cancelled before a
// second elector, on a direct connection, obtains the lease: never two
// leaders. Ordering, not wall-clock bounds: the work is cancelled at the
// renew deadline (2s after the last renewal started), the lease expires 2s
// later at the earliest.
func TestLease_Renew_stalledSocket(t *testing.T) {
	srv := redisserver.Start(t)
	proxy := startStallProxy(t, srv.Addr)
	slow := redis.NewClient(&redis.Options{
		Addr: proxy.addr, DialTimeout: 30 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
	})
	defer slow.Close()
	direct := srv.Client()

	cfg := func(c Client, id string) Config {
		return Config{
			Client: c, Key: "{t}:lease", EpochKey: "{t}:epoch", Channel: "{t}:events", ID: id,
			LeaseTTL: 4 * time.Second, RenewInterval: 300 * time.Millisecond, RenewDeadline: 2 * time.Second,
			RetryInterval: 100 * time.Millisecond, OpTimeout: 500 * time.Millisecond, Logger: quiet,
		}
	}
	var tl timeline
	a, err := New(cfg(slow, "a"))
	if err != nil {
		t.Fatal(err)
	}
	recordLeading(a, &tl)
	runElector(t, a, func(ctx context.Context, _ Term) {
		<-ctx.Done()
		tl.add("a work cancelled")
	})
	waitFor(t, "a leads", 5*time.Second, func() bool { _, ok := a.Leading(); return ok })

	b, err := New(cfg(direct, "b"))
	if err != nil {
		t.Fatal(err)
	}
	recordLeading(b, &tl)
	runElector(t, b, func(ctx context.Context, _ Term) { <-ctx.Done() })

	proxy.stall()
	tl.add("stalled")
	waitFor(t, "b leads", 20*time.Second, func() bool { return tl.index("b leads") >= 0 })
	// Let a's abandoned calls fail now instead of after 30s.
	proxy.close()

	marks := tl.snapshot()
	for _, m := range marks {
		t.Logf("%s %s", m.at.Format("15:04:05.000"), m.what)
	}
	cancelled, bLeads := tl.index("a work cancelled"), tl.index("b leads")
	if cancelled < 0 || cancelled > bLeads {
		t.Fatalf("a's work cancelled at event %d, b led at event %d: two leaders", cancelled, bLeads)
	}
	if d := overlap(marks); d != 0 {
		t.Fatalf("two electors said they led for %s", d)
	}
}

// blockingClient's script calls block, whatever their context says, while
// the gate is shut: a client stuck on a socket it does not time out.
type blockingClient struct {
	*redis.Client
	mu      sync.Mutex // guards gate
	gate    chan struct{}
	blocked atomic.Int32 // calls waiting at the gate
}

func (c *blockingClient) shut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gate = make(chan struct{})
}

func (c *blockingClient) open() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
}

func (c *blockingClient) EvalSha(ctx context.Context, sha1 string, keys []string, args ...interface{}) *redis.Cmd {
	c.mu.Lock()
	g := c.gate
	c.mu.Unlock()
	if g != nil {
		c.blocked.Add(1)
		<-g
		c.blocked.Add(-1)
	}
	return c.Client.EvalSha(ctx, sha1, keys, args...)
}

// TestLease_Renew_blockedCall (issue 11 item 1, on the injected clock): a
// renewal that never returns does not hold up the step-down: Leading()
// turns false exactly RenewDeadline after the last good renewal started.
func TestLease_Renew_blockedCall(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := &blockingClient{Client: redis.NewClient(&redis.Options{Addr: mr.Addr()})}
	defer rdb.Close()
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	cfg := fastConfig(rdb, "a")
	cfg.Channel = ""
	cfg.LeaseTTL, cfg.RenewInterval, cfg.RenewDeadline, cfg.OpTimeout = 15*time.Second, 5*time.Second, 10*time.Second, time.Second
	cfg.Clock = clk
	e, _ := New(cfg)
	var start, stopped atomic.Int64
	e.onLeading = func(_ Term, leading bool) {
		if leading {
			start.Store(clk.Now().UnixNano())
		} else {
			stopped.Store(clk.Now().UnixNano())
		}
	}
	runElector(t, e, func(ctx context.Context, _ Term) { <-ctx.Done() })
	t.Cleanup(rdb.open) // runs before the elector's stop: let abandoned calls end
	waitFor(t, "leading", 2*time.Second, func() bool { return start.Load() != 0 })

	waitFor(t, "timers", time.Second, func() bool { return clk.Waiters() == 2 })
	mr.FastForward(time.Second)
	clk.Step(5 * time.Second) // one good renewal at +5s
	waitFor(t, "renewed", time.Second, func() bool { return clk.Waiters() == 2 && mr.TTL("{t}:lease") == 15*time.Second })

	rdb.shut()
	// Up to the renewal at +10s the elector idles between steps (renew and
	// deadline timers); then the renewal blocks.
	for rdb.blocked.Load() == 0 {
		waitFor(t, "idle or blocked", 5*time.Second, func() bool { return clk.Waiters() == 2 || rdb.blocked.Load() > 0 })
		if rdb.blocked.Load() == 0 {
			clk.Step(500 * time.Millisecond)
		}
	}
	// Only the deadline timer is left to fire.
	for stopped.Load() == 0 {
		if clk.Since(time.Unix(0, start.Load())) > time.Minute {
			t.Fatal("never stepped down")
		}
		waitFor(t, "a timer", 5*time.Second, func() bool { return stopped.Load() != 0 || clk.Waiters() >= 1 })
		if stopped.Load() == 0 {
			clk.Step(500 * time.Millisecond)
		}
	}
	if held := time.Duration(stopped.Load() - start.Load()); held != 15*time.Second {
		t.Fatalf("stepped down after %s of leadership, want 15s (renewal at 5s + 10s deadline)", held)
	}
}
