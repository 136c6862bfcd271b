package reader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
	"k8s.io/utils/clock"

	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
)

var (
	// ErrNoToken: the Reader has no valid token for the app. Redis holds
	// none (never written, or its key expired), or the app's first load
	// failed; the error then also wraps the cause.
	ErrNoToken = errors.New("reader: no valid token")
	// ErrTokenExpired: the cached token has expired and Redis could not be
	// read to replace it. It wraps ErrNoToken, and the returned error also
	// wraps the Redis error.
	ErrTokenExpired = fmt.Errorf("%w: cached token expired and redis is unreachable", ErrNoToken)
	// ErrClosed: the Reader was closed.
	ErrClosed = errors.New("reader: closed")
	// ErrInvalidApp: the app id does not match [A-Za-z0-9_.-]{1,64}. It is
	// store.ErrInvalidApp, so errors.Is matches either.
	ErrInvalidApp = store.ErrInvalidApp
)

const (
	defaultRefreshBefore  = 30 * time.Second
	defaultResyncInterval = time.Minute

	loadTimeout   = 5 * time.Second // bound of one background Record read
	waitPoll      = time.Second     // ReportAndWait re-reads Redis this often
	minScanPeriod = 10 * time.Millisecond
	maxScanPeriod = time.Second
)

// Client is what a Reader needs of a Redis client: the scripts that read
// a record and the reports, one MULTI for a report, and the events
// subscription (store.RecordsClient). redis.UniversalClient (standalone,
// Sentinel or Cluster) satisfies it.
type Client interface {
	redis.Scripter
	TxPipeline() redis.Pipeliner
	Subscribe(ctx context.Context, channels ...string) *redis.PubSub
}

// Config configures a Reader. The zero value is valid.
type Config struct {
	// Prefix is the key prefix inside the hash tag. Default "tokend".
	Prefix string
	// Clock judges the expiry of cached tokens and gives the timestamps
	// of signatures (Signature), and nothing else. Default: the real
	// clock, read as monotonic time. With any other clock every read
	// consults it (tests use k8s.io/utils/clock/testing.FakeClock).
	Clock clock.PassiveClock
	// RefreshBefore: a cached token this close to its expiry is re-read
	// from Redis in the background (about once a second) until a newer one
	// is found. Default 30s. It is also the slack of the lock-free read
	// path: a timer ends it RefreshBefore before the expiry (after that
	// every read consults the clock), so a process stalled longer than
	// RefreshBefore (a frozen VM, a starved scheduler) could serve a token
	// past its expiry. Keep it well above such stalls.
	RefreshBefore time.Duration
	// ResyncInterval: every cached app is re-read this often, whatever the
	// events said. Default 1m.
	ResyncInterval time.Duration
	// PingInterval: the subscription is pinged after this long without a
	// message; if the next interval brings nothing either, the connection
	// is presumed dead and replaced. Default event.DefaultPingInterval
	// (5s). Unused with Events.
	PingInterval time.Duration
	// Events, when set, is the process's shared subscription to the
	// events channel (an *event.Hub that the caller runs). Default nil:
	// the Reader subscribes on its own.
	Events interface{ Subscribe() *event.Subscription }
	// Logger receives background failures (reloads, the subscription).
	// Default slog.Default(). Tokens are never logged.
	Logger *slog.Logger
}

// Reader is the in-process token cache of library mode. Token serves
// from memory; one subscription to the events channel reloads an app when
// its token changes; after a reconnect, and every ResyncInterval, all
// cached apps are re-read. While Redis is unreachable a cached token keeps
// being served until it expires; an expired token is never returned.
//
// Expiry is judged on the local clock only: a token read at local time t
// whose key had PTTL d is valid until t + d, where t is taken before the
// read was sent (conservative).
//
// Every app asked for stays cached, and is resynced, until Close.
//
// A Reader is safe for concurrent use. Its methods do not block one
// another across apps: the hit path takes no lock.
type Reader struct {
	store *store.Records
	cfg   Config
	log   *slog.Logger

	clock clock.PassiveClock // nil: the real monotonic clock
	base  time.Time          // origin of the int64 nanosecond times below

	apps atomic.Pointer[appMap] // copy on write, under mu
	// reports collapses concurrent reports of one token, by app and token,
	// into one Records.Report: a storm of reporters in one process sends one.
	reports singleflight.Group

	ctx    context.Context // cancelled by Close; background work runs under it
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines

	// mu guards closed, wg.Add and the writing of apps.
	mu     sync.Mutex
	closed bool

	resyncs   atomic.Int64 // completed resyncs; tests wait on it
	waitPolls atomic.Int64 // polls of shared waits; tests wait on it
	malformed atomic.Int64 // malformed events seen; tests wait on it

	// waitMu guards waits (the shared ReportAndWait of each app and
	// token) and reported (when each app and token was last reported).
	waitMu   sync.Mutex
	waits    map[waitKey]*sharedWait
	reported map[waitKey]int64

	// badEvents limits the log of malformed events; used by listen only.
	badEvents repeatLimit

	// events delivers the channel's notices to listen; hub, when the
	// Reader subscribes on its own, is the subscription it runs.
	events *event.Subscription
	hub    *event.Hub
}

type appMap map[string]*entry

// entry is one app's slot; cur is never nil.
type entry struct {
	app string
	cur atomic.Pointer[cached]

	mu      sync.Mutex // guards loading
	loading *loadCall  // the slow-path load in flight, if any
}

// loadCall is one slow-path load of an entry, shared by every caller that
// arrives while it runs: one goroutine per app, however many callers.
type loadCall struct {
	done chan struct{}
	err  error // set before done is closed
}

// cached is one immutable read of an app's token. Times are nanoseconds
// since Reader.base on the Reader's clock.
type cached struct {
	tok       Token // Value empty: no token
	ticket    int64
	deadline  int64 // valid while now < deadline
	refreshAt int64 // deadline - RefreshBefore
	// fresh is true while now < refreshAt for certain, so Token may skip
	// the clock; cleared by timer (real clock only).
	fresh   atomic.Bool
	timer   *time.Timer   // clears fresh; nil when fresh was never set
	changed chan struct{} // closed when this read is replaced
}

func (c *cached) valid(now int64) bool { return c.tok.Value != "" && now < c.deadline }

func (c *cached) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
	}
}

func newEntry(app string) *entry {
	e := &entry{app: app}
	e.cur.Store(&cached{changed: make(chan struct{})})
	return e
}

// New validates cfg and starts a Reader over rdb. It does no I/O
// itself: the subscription is made in the background, and each app is
// read on its first Token call. Close it to stop the background work.
func New(rdb Client, cfg Config) (*Reader, error) {
	if rdb == nil {
		return nil, errors.New("reader: New needs a redis client")
	}
	st, err := store.NewRecords(rdb, cfg.Prefix)
	if err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"RefreshBefore", &cfg.RefreshBefore, defaultRefreshBefore},
		{"ResyncInterval", &cfg.ResyncInterval, defaultResyncInterval},
		{"PingInterval", &cfg.PingInterval, event.DefaultPingInterval},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("reader: Config.%s must not be negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	r := &Reader{store: st, cfg: cfg, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("component", "store.Reader")
	switch cfg.Clock.(type) {
	case nil, clock.RealClock, *clock.RealClock:
		r.base = time.Now()
	default:
		r.clock = cfg.Clock
		r.base = cfg.Clock.Now()
	}
	var src interface{ Subscribe() *event.Subscription } = cfg.Events
	if src == nil {
		r.hub, err = event.NewHub(event.HubConfig{Subscribe: st.Subscribe, PingInterval: cfg.PingInterval, Logger: r.log})
		if err != nil {
			return nil, err
		}
		src = r.hub
	}
	r.apps.Store(&appMap{})
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.events = src.Subscribe()
	if r.hub != nil {
		r.spawn(func(ctx context.Context) { _ = r.hub.Run(ctx) })
	}
	r.spawn(r.listen)
	r.spawn(r.maintain)
	return r, nil
}

// now is the Reader's clock in nanoseconds since base.
func (r *Reader) now() int64 {
	if r.clock == nil {
		return int64(time.Since(r.base))
	}
	return int64(r.clock.Now().Sub(r.base))
}

// spawn runs f in a goroutine that Close waits for; false once closed.
func (r *Reader) spawn(f func(ctx context.Context)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f(r.ctx)
	}()
	return true
}

// Token returns app's current token. A cached token is returned from
// memory with no Redis call and no allocation (ctx is then unused); the
// first call for an app, and a call after the cached token expired, read
// Redis. Errors: ErrInvalidApp, ErrNoToken (ErrTokenExpired when an
// expired token could not be replaced), ErrClosed, or ctx's error.
func (r *Reader) Token(ctx context.Context, app string) (Token, error) {
	if e := (*r.apps.Load())[app]; e != nil {
		if c := e.cur.Load(); c.fresh.Load() {
			return c.tok, nil
		}
	}
	return r.token(ctx, app)
}

// token is Token's path when the clock must be read or Redis asked.
func (r *Reader) token(ctx context.Context, app string) (Token, error) {
	e, err := r.entry(app)
	if err != nil {
		return Token{}, err
	}
	prev := e.cur.Load()
	if prev.valid(r.now()) {
		return prev.tok, nil // maintain reloads it if due
	}
	call, ok := r.startLoad(e)
	if !ok {
		return Token{}, ErrClosed
	}
	select {
	case <-call.done:
		err = call.err
	case <-ctx.Done():
		return Token{}, fmt.Errorf("reader: %w", ctx.Err())
	}
	if c := e.cur.Load(); c.valid(r.now()) {
		return c.tok, nil
	}
	switch {
	case r.ctx.Err() != nil:
		return Token{}, ErrClosed
	case err == nil, errors.Is(err, ErrNoToken):
		return Token{}, ErrNoToken
	case prev.tok.Value != "":
		return Token{}, fmt.Errorf("%w: %w", ErrTokenExpired, err)
	}
	return Token{}, fmt.Errorf("%w: %w", ErrNoToken, err)
}

// startLoad returns the load of e in flight, starting one (in a goroutine
// Close waits for) if none is; false once the Reader is closed.
func (r *Reader) startLoad(e *entry) (*loadCall, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.loading != nil {
		return e.loading, true
	}
	call := &loadCall{done: make(chan struct{})}
	started := r.spawn(func(ctx context.Context) {
		err := r.load(ctx, e)
		e.mu.Lock()
		e.loading = nil
		e.mu.Unlock()
		call.err = err
		close(call.done)
	})
	if !started {
		return nil, false
	}
	e.loading = call
	return call, true
}

// entry returns app's slot, adding it on first use.
func (r *Reader) entry(app string) (*entry, error) {
	if e := (*r.apps.Load())[app]; e != nil {
		return e, nil
	}
	if !store.ValidCredential(app) {
		return nil, fmt.Errorf("%w: want an app id [A-Za-z0-9_.-]{1,64}, optionally with /<appid> and :<kind>", ErrInvalidApp)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	old := *r.apps.Load()
	if e := old[app]; e != nil {
		return e, nil
	}
	e := newEntry(strings.Clone(app))
	next := make(appMap, len(old)+1)
	maps.Copy(next, old)
	next[e.app] = e
	r.apps.Store(&next)
	return e, nil
}

// load reads e's record from Redis and installs it. It returns ErrNoToken
// when Redis holds no live token; the cached one is then kept (it expires
// on its own clock).
func (r *Reader) load(ctx context.Context, e *entry) error {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	start := r.now()
	rec, err := r.store.Record(ctx, e.app)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !rec.Valid()) {
		return ErrNoToken
	}
	if err != nil {
		return err
	}
	deadline := start + int64(rec.TTL)
	c := &cached{
		tok: Token{
			Value:     rec.Token,
			ExpiresAt: r.base.Add(time.Duration(deadline)),
			Version:   rec.Version,
		},
		ticket:    rec.Ticket,
		deadline:  deadline,
		refreshAt: deadline - int64(r.cfg.RefreshBefore),
		changed:   make(chan struct{}),
	}
	r.install(e, c)
	return nil
}

// install makes c e's current read unless a valid read of the same or a
// newer write (higher ticket: tickets grow even across Redis data loss,
// versions do not) is already there. Re-reading an unchanged token keeps the first
// read, so a Token value stays the same until the token changes.
func (r *Reader) install(e *entry, c *cached) {
	if now := r.now(); r.clock == nil && now < c.refreshAt {
		c.fresh.Store(true)
		c.timer = time.AfterFunc(time.Duration(c.refreshAt-now), func() { c.fresh.Store(false) })
	}
	for {
		old := e.cur.Load()
		// An expired read never blocks a live one, even with a lower ticket
		// (Redis lost its data and its clock stepped back).
		if old.valid(r.now()) && (c.ticket < old.ticket || c.ticket == old.ticket && c.tok.Value == old.tok.Value) {
			c.stopTimer()
			return
		}
		if e.cur.CompareAndSwap(old, c) {
			old.stopTimer()
			close(old.changed)
			return
		}
	}
}

// Close stops the background work and waits for it. Token then returns
// ErrClosed. Calling Close again does nothing.
func (r *Reader) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	apps := r.apps.Swap(&appMap{})
	r.mu.Unlock()

	r.cancel()
	r.events.Close()
	r.wg.Wait()
	for _, e := range *apps {
		e.cur.Load().stopTimer()
	}
	return nil
}
