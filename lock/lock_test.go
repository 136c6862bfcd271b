package lock

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// backend is a Redis the core tests run against: miniredis and a real
// redis-server.
type backend struct {
	name   string
	client func(t *testing.T) *redis.Client
}

func backends() []backend {
	return []backend{
		{"miniredis", func(t *testing.T) *redis.Client {
			mr := miniredis.RunT(t)
			c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { c.Close() })
			return c
		}},
		{"redis-server", func(t *testing.T) *redis.Client { return redisserver.Start(t).Client() }},
	}
}

// fastConfig is a real-clock config with short timings.
func fastConfig(c Client, id string) Config {
	return Config{
		Client: c, Key: "{t}:lease", EpochKey: "{t}:epoch", Channel: "{t}:events", ID: id,
		LeaseTTL: 2 * time.Second, RenewInterval: 200 * time.Millisecond, RenewDeadline: time.Second,
		RetryInterval: 50 * time.Millisecond, OpTimeout: 100 * time.Millisecond, Logger: quiet,
	}
}

func TestNew_validates(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	ok := Config{Client: rdb, Key: "k", EpochKey: "e", ID: "a"}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"defaults ok", func(*Config) {}, ""},
		{"no client", func(c *Config) { c.Client = nil }, "Client"},
		{"no key", func(c *Config) { c.Key = "" }, "Key"},
		{"no epoch key", func(c *Config) { c.EpochKey = "" }, "EpochKey"},
		{"no id", func(c *Config) { c.ID = "" }, "ID"},
		{"deadline equals ttl", func(c *Config) { c.LeaseTTL, c.RenewDeadline = 10*time.Second, 10*time.Second }, "RenewDeadline"},
		{"interval equals deadline", func(c *Config) { c.RenewInterval, c.RenewDeadline = 10*time.Second, 10*time.Second }, "RenewInterval"},
		{"just below ok", func(c *Config) {
			c.LeaseTTL, c.RenewDeadline, c.RenewInterval = 3*time.Second, 3*time.Second-1, 3*time.Second-2
		}, ""},
		{"negative retry", func(c *Config) { c.RetryInterval = -1 }, "RetryInterval"},
		{"retry above ttl ok", func(c *Config) { c.RetryInterval = time.Minute }, ""},
		{"client timeout equals deadline", func(c *Config) {
			c.LeaseTTL, c.RenewDeadline, c.ClientTimeout = time.Minute, 10*time.Second, 10*time.Second
		}, "ClientTimeout"},
		{"op timeout too long", func(c *Config) { c.OpTimeout = 11 * time.Second }, "OpTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			_, err := New(cfg)
			if tt.want == "" && err != nil {
				t.Fatalf("New: %v", err)
			}
			var fe *FieldError
			if tt.want != "" && (!errors.As(err, &fe) || fe.Field != tt.want || !strings.HasPrefix(err.Error(), "lock: "+tt.want+": ")) {
				t.Fatalf("New: err = %v, want a FieldError for %s", err, tt.want)
			}
		})
	}
}

// TestNew_opTimeoutDefault: a zero OpTimeout is derived from ClientTimeout
// (or DefaultOpTimeout), RenewInterval/2 and LeaseTTL-RenewDeadline.
func TestNew_opTimeoutDefault(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	s := time.Second
	tests := []struct {
		name                     string
		client, ttl, ivl, dl, op time.Duration
		want                     time.Duration
	}{
		{"defaults", 0, 0, 0, 0, 0, DefaultOpTimeout},
		{"client timeout caps", 1 * s, 0, 0, 0, 0, 1 * s},
		{"half the renew interval below the client timeout", 3 * s, 0, 0, 0, 0, 2500 * time.Millisecond},
		{"half the renew interval", 0, 0, 2 * s, 0, 0, 1 * s},
		{"lease ttl - renew deadline", 0, 3 * s, 1 * s, 2900 * time.Millisecond, 0, 100 * time.Millisecond},
		{"explicit kept", 1 * s, 0, 0, 0, 300 * time.Millisecond, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(Config{Client: rdb, Key: "k", EpochKey: "e", ID: "a", ClientTimeout: tt.client,
				LeaseTTL: tt.ttl, RenewInterval: tt.ivl, RenewDeadline: tt.dl, OpTimeout: tt.op})
			if err != nil {
				t.Fatal(err)
			}
			if e.cfg.OpTimeout != tt.want {
				t.Fatalf("OpTimeout = %s, want %s", e.cfg.OpTimeout, tt.want)
			}
		})
	}
}

// runElector starts e.Run in the background; the returned func stops it and
// waits.
func runElector(t *testing.T, e *Elector, lead LeadFunc) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, lead) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	wait.For(t, limit, what, cond)
}

func TestElector_oneLeaderAmongContenders(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.client(t)
			var leaders, maxLeaders, terms atomic.Int32
			lead := func(ctx context.Context, term Term) {
				n := leaders.Add(1)
				terms.Add(1)
				for {
					m := maxLeaders.Load()
					if n <= m || maxLeaders.CompareAndSwap(m, n) {
						break
					}
				}
				<-ctx.Done()
				leaders.Add(-1)
			}
			var electors []*Elector
			for _, id := range []string{"a", "b", "c"} {
				e, err := New(fastConfig(rdb, id))
				if err != nil {
					t.Fatal(err)
				}
				electors = append(electors, e)
				runElector(t, e, lead)
			}
			waitFor(t, "a leader", 2*time.Second, func() bool { return leaders.Load() == 1 })
			wait.Hold(t, 600*time.Millisecond, "several renewals and retries: leadership must stay single and stable")
			if got := maxLeaders.Load(); got != 1 {
				t.Fatalf("max concurrent leaders = %d, want 1", got)
			}
			if got := terms.Load(); got != 1 {
				t.Fatalf("terms = %d, want 1 (leadership must be stable while renewing)", got)
			}
			n := 0
			for _, e := range electors {
				if term, ok := e.Leading(); ok {
					n++
					if term.Epoch <= 0 || term.Value == "" {
						t.Fatalf("bad term %+v", term)
					}
				}
			}
			if n != 1 {
				t.Fatalf("electors reporting Leading = %d, want 1", n)
			}
		})
	}
}

func TestElector_releaseWakesStandby(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.client(t)
			cfgA := fastConfig(rdb, "a")
			a, _ := New(cfgA)
			stopA := runElector(t, a, func(ctx context.Context, _ Term) { <-ctx.Done() })
			waitFor(t, "a leads", 2*time.Second, func() bool { _, ok := a.Leading(); return ok })

			cfgB := fastConfig(rdb, "b")
			cfgB.RetryInterval = time.Minute // only the announcement can wake b in time
			b2, _ := New(cfgB)
			var bTerm atomic.Int64
			runElector(t, b2, func(ctx context.Context, term Term) { bTerm.Store(term.Epoch); <-ctx.Done() })
			wait.Hold(t, 100*time.Millisecond, "b tried once and is waiting (RetryInterval 1m: only the announcement can wake it)")
			aTerm, _ := a.Leading()

			start := time.Now()
			stopA()
			waitFor(t, "b leads after a released", time.Second, func() bool { return bTerm.Load() != 0 })
			t.Logf("handover took %s", time.Since(start))
			if bTerm.Load() <= aTerm.Epoch {
				t.Fatalf("b's epoch %d not greater than a's %d", bTerm.Load(), aTerm.Epoch)
			}
		})
	}
}

func TestElector_lostLeaseStepsDown(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.client(t)
			e, _ := New(fastConfig(rdb, "a"))
			cancelled := make(chan struct{})
			var once sync.Once
			runElector(t, e, func(ctx context.Context, _ Term) { <-ctx.Done(); once.Do(func() { close(cancelled) }) })
			waitFor(t, "a leads", 2*time.Second, func() bool { _, ok := e.Leading(); return ok })
			// Someone else took over the key (e.g. after an expiry during a pause).
			if err := rdb.Set(context.Background(), "{t}:lease", "intruder", 0).Err(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-cancelled:
			case <-time.After(time.Second):
				t.Fatal("leader context not cancelled after the lease was lost")
			}
			if v := rdb.Get(context.Background(), "{t}:lease").Val(); v != "intruder" {
				t.Fatalf("ex-leader touched a lease it no longer holds: %q", v)
			}
		})
	}
}

func TestElector_epochIncreasesAndSurvivesFlush(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.client(t)
			ctx := context.Background()
			var last int64
			for i := range 3 {
				e, _ := New(fastConfig(rdb, "a"))
				got := make(chan int64, 1)
				stop := runElector(t, e, func(ctx context.Context, term Term) {
					select {
					case got <- term.Epoch:
					default:
					}
					<-ctx.Done()
				})
				var epoch int64
				select {
				case epoch = <-got:
				case <-time.After(2 * time.Second):
					t.Fatal("no leadership")
				}
				stop()
				if epoch <= last {
					t.Fatalf("round %d: epoch %d not greater than %d", i, epoch, last)
				}
				last = epoch
				if i == 1 {
					// Terms taken within one millisecond run ahead of TIME by
					// one each; after a data loss TIME must have caught up.
					wait.Hold(t, 3*time.Millisecond, "Redis TIME moves past the terms taken in this millisecond")
					rdb.FlushAll(ctx)
				}
			}
			if last < time.Now().Add(-time.Hour).UnixMilli() {
				t.Fatalf("epoch %d is not based on Redis TIME", last)
			}
		})
	}
}

// TestLease_Renew_afterDeadline: with Redis failing, the leader's context is
// cancelled once RenewDeadline has passed on the injected clock, and not
// before; the lease key is still alive then, so no one else could lead yet.
func TestLease_Renew_afterDeadline(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	defer rdb.Close()
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	cfg := fastConfig(rdb, "a")
	cfg.Channel = "" // keep the subscription out of SetError's way
	cfg.LeaseTTL, cfg.RenewInterval, cfg.RenewDeadline = 15*time.Second, 5*time.Second, 10*time.Second
	cfg.Clock = clk
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var start, cancelledAt atomic.Int64
	cancelled := make(chan struct{})
	runElector(t, e, func(ctx context.Context, _ Term) {
		start.Store(clk.Now().UnixNano())
		<-ctx.Done()
		cancelledAt.Store(clk.Now().UnixNano())
		close(cancelled)
	})
	waitFor(t, "leading", 2*time.Second, func() bool { return start.Load() != 0 })

	// One good renewal first.
	waitFor(t, "timers", time.Second, func() bool { return clk.Waiters() == 2 })
	clk.Step(5 * time.Second)
	waitFor(t, "renewed", time.Second, func() bool { return clk.Waiters() == 2 })

	mr.SetError("LOADING simulated outage")
	for step := 0; ; step++ {
		select {
		case <-cancelled:
		default:
			if step > 100 {
				t.Fatal("leader context never cancelled")
			}
			waitFor(t, "timers", time.Second, func() bool {
				select {
				case <-cancelled:
					return true
				default:
					return clk.Waiters() >= 2
				}
			})
			select {
			case <-cancelled: // no step after the step-down: no retry either
				continue
			default:
			}
			clk.Step(500 * time.Millisecond)
			continue
		}
		break
	}
	mr.SetError("")
	held := time.Duration(cancelledAt.Load() - start.Load())
	// Last good renewal started at +5s; deadline 10s after it.
	if held < 15*time.Second || held > 15*time.Second+500*time.Millisecond {
		t.Fatalf("stepped down after %s of leadership, want 15s (renewal at 5s + 10s deadline)", held)
	}
	if !mr.Exists("{t}:lease") {
		t.Fatal("lease key already gone: the step-down came too late")
	}
	if _, ok := e.Leading(); ok {
		t.Fatal("Leading() still true after step-down")
	}
}

// TestElector_obtainReentersAfterLostReply: when an obtain's reply is lost
// after Redis set the key, the next try reuses the token and gets the
// lease at once instead of waiting out an orphan lease.
func TestElector_obtainReentersAfterLostReply(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	e, err := New(fastConfig(rdb, "a"))
	if err != nil {
		t.Fatal(err)
	}
	// What the lost obtain left behind: our token and metadata, TTL running.
	mr.Set("{t}:lease", "lost-reply-token:a")
	mr.SetTTL("{t}:lease", time.Minute)
	e.retryToken = "lost-reply-token"
	runElector(t, e, func(ctx context.Context, _ Term) { <-ctx.Done() })
	waitFor(t, "leadership on the lease the lost reply had set", time.Second, func() bool { _, ok := e.Leading(); return ok })
	if term, _ := e.Leading(); term.Value != "lost-reply-token:a" {
		t.Fatalf("term value %q", term.Value)
	}
}
