package refresher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeProvider issues numbered tokens; it can fail or block on demand.
type fakeProvider struct {
	name     string
	lifetime time.Duration

	mu    sync.Mutex // guards the fields below
	calls int
	err   error
	block chan struct{}
	reqs  []upstream.FetchRequest
}

func (p *fakeProvider) Fetch(ctx context.Context, req upstream.FetchRequest) (upstream.Token, error) {
	p.mu.Lock()
	p.calls++
	n, err, block := p.calls, p.err, p.block
	p.reqs = append(p.reqs, req)
	p.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return upstream.Token{}, ctx.Err()
		}
	}
	if err != nil {
		return upstream.Token{}, err
	}
	return upstream.Token{Value: fmt.Sprintf("%s-tok-%d", p.name, n), ExpiresIn: p.lifetime}, nil
}

func (p *fakeProvider) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

func (p *fakeProvider) set(err error, block chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err, p.block = err, block
}

// fixedElector leads at once with a fixed term, as long as ctx lives.
type fixedElector struct{ term lock.Term }

func (e fixedElector) Run(ctx context.Context, lead lock.LeadFunc) error {
	lead(ctx, e.term)
	return nil
}

// countingObserver counts events.
type countingObserver struct {
	nopObserver
	rejected, written atomic.Int32
	mu                sync.Mutex
	reports, probes   map[string]int
}

func (o *countingObserver) Probed(app, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.probes == nil {
		o.probes = map[string]int{}
	}
	o.probes[outcome]++
}

// count returns the count of key in m (one of the maps above).
func (o *countingObserver) count(m *map[string]int, key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return (*m)[key]
}

func (o *countingObserver) RejectedWrite(string)           { o.rejected.Add(1) }
func (o *countingObserver) Written(string, time.Time, int) { o.written.Add(1) }
func (o *countingObserver) Report(app, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.reports == nil {
		o.reports = map[string]int{}
	}
	o.reports[outcome]++
}

func newStore(t *testing.T, rdb *redis.Client) *store.Store {
	t.Helper()
	s, err := store.New(store.Config{Client: rdb})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func miniStore(t *testing.T) (*store.Store, *redis.Client, *miniredis.Miniredis) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return newStore(t, rdb), rdb, mr
}

// start runs r until the test ends.
func start(t *testing.T, r *Refresher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func fixedTerm(t *testing.T, s *store.Store, rdb *redis.Client, value string) lock.Term {
	t.Helper()
	if err := rdb.Set(context.Background(), s.Keys().Lease(), value, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	return lock.Term{Value: value, Epoch: 1, ID: value}
}

// waitCooldownOver waits until app's token is older than cooldown on
// Redis's clock (the clock the cooldown is decided on).
func waitCooldownOver(t *testing.T, s *store.Store, app string, cooldown time.Duration) {
	t.Helper()
	wait.For(t, 5*time.Second, "the cooldown over on Redis's clock", func() bool {
		rec, err := s.Record(context.Background(), app)
		return err == nil && rec.Now.Sub(rec.FetchedAt) > cooldown
	})
}

func token(t *testing.T, rdb *redis.Client, s *store.Store, app string) string {
	t.Helper()
	v, err := rdb.Get(context.Background(), s.Keys().Token(app)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	return v
}

func baseConfig(s Store, e Elector, apps ...App) Config {
	return Config{
		Store: s, Elector: e, Apps: apps, Cooldown: 50 * time.Millisecond,
		RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, ConfigRetry: time.Hour,
		ReportPoll: 200 * time.Millisecond, Logger: quiet,
	}
}
