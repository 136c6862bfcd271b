package lock

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
