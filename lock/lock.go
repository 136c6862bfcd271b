// Package lock elects one leader among tokend replicas with a Redis lease
// (github.com/bsm/redislock) and numbers each acquisition with a term
// (epoch).
//
// Guarantees: the leader's work runs under a context that is cancelled as
// soon as leadership ends: on shutdown, when the lease is found lost, or when
// no renewal has succeeded for RenewDeadline (< LeaseTTL), measured on the
// injected clock from the start of the last successful renewal (or obtain).
// This holds whatever the Redis client's timeouts: every Redis call runs on
// its own goroutine and the step-down never waits for one, even one blocked
// on a stalled connection. So, with clocks that advance at about the same
// rate, the work is cancelled before the lease can expire and anyone else
// can obtain it. Leading() turns false when the step-down starts, before the
// work has drained.
//
// A leader also checks its lease at once, instead of at its next renewal,
// when its subscription to Config.Channel reconnects (Redis restarted or
// failed over) and when another replica announces an acquisition: after
// Redis lost the lease, two replicas both say they lead for at most about
// one renewal round trip after the old leader could know.
//
// What lock does NOT promise: that a paused process notices in time. A
// leader stopped by the OS or a long GC pause can still act after its lease
// is gone; writes must therefore be fenced separately (see package store's
// fetch tickets, which check the lease value in Redis). Nor that a Redis
// which lost the lease (restart, failover, eviction) is noticed with no
// overlap at all: the old leader learns it from its reconnect or the new
// leader's announcement, plus one renewal round trip; tickets fence writes
// in that window too.
package lock

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bsm/redislock"
	"github.com/redis/go-redis/v9"
	"k8s.io/utils/clock"
)

// Client is what the elector needs of Redis: scripts, reading the lease
// (to name the leader in a standby's log), and publish/subscribe for
// announcements. redis.UniversalClient satisfies it.
type Client interface {
	redis.Scripter
	Get(ctx context.Context, key string) *redis.StringCmd
	Publish(ctx context.Context, channel string, message interface{}) *redis.IntCmd
	Subscribe(ctx context.Context, channels ...string) *redis.PubSub
}

// Defaults of Config's lease timings.
const (
	DefaultLeaseTTL      = 15 * time.Second
	DefaultRenewInterval = 5 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryInterval = 2 * time.Second
	// DefaultOpTimeout caps the derived OpTimeout when ClientTimeout is
	// not set.
	DefaultOpTimeout = 2 * time.Second
)

// Config configures an Elector.
type Config struct {
	// Client is the Redis client. Required. The step-down does not depend
	// on its timeouts (see the package comment), but a call lock stopped
	// waiting for keeps a connection until the client gives up, so give it
	// go-redis Options.ContextTimeoutEnabled (then OpTimeout ends each call)
	// and a socket timeout below MaxClientTimeout (see ClientTimeout).
	Client Client
	// ClientTimeout, when set, is the client's own socket timeout
	// (go-redis ReadTimeout/WriteTimeout, tokend's redis.timeout). New
	// rejects one that is not below RenewDeadline and
	// MaxClientTimeout(LeaseTTL, RenewDeadline). Default 0: not checked.
	ClientTimeout time.Duration
	// Key is the lease key. Required.
	Key string
	// EpochKey is the hash (fields epoch, leader) holding the last term.
	// Required; must share Key's hash tag on Redis Cluster.
	EpochKey string
	// Channel, when set, is where releases and acquisitions are announced
	// and listened for (package event: released, acquired): standbys try at
	// once after a release instead of after RetryInterval, and a leader
	// checks its lease at once after another's acquisition or a reconnect.
	Channel string
	// Events, when set, is the process's shared subscription to Channel
	// (an *event.Hub the caller runs), listened to instead of a
	// subscription of the elector's own. Announcements still go to
	// Channel. Default nil.
	Events Events
	// ID names this replica (stored as the lease's metadata). Required.
	ID string
	// LeaseTTL is the lease's lifetime in Redis. Default DefaultLeaseTTL
	// (15s).
	LeaseTTL time.Duration
	// RenewInterval is how often the leader renews. Default
	// DefaultRenewInterval (5s). Must be < RenewDeadline.
	RenewInterval time.Duration
	// RenewDeadline: with no successful renewal for this long, the leader
	// steps down. Default DefaultRenewDeadline (10s). Must be < LeaseTTL.
	RenewDeadline time.Duration
	// RetryInterval is how often a standby tries to obtain, jittered by
	// +-20%. Default DefaultRetryInterval (2s).
	RetryInterval time.Duration
	// OpTimeout bounds each Redis call: it is the call's context timeout,
	// and the elector waits at most this long on its clock for an answer
	// (a renewal is also cut short by the renew deadline). Default
	// min(ClientTimeout, or DefaultOpTimeout (2s) when that is 0,
	// RenewInterval/2, LeaseTTL-RenewDeadline); must be < RenewDeadline and
	// must not exceed LeaseTTL-RenewDeadline.
	OpTimeout time.Duration
	// Clock measures intervals and deadlines. Default: the real clock.
	Clock clock.Clock
	// Logger receives leadership changes. Default: slog.Default().
	Logger *slog.Logger
}

// FieldError is a Config field New rejects. Msg names other fields by
// their Go names (LeaseTTL), so that a caller can map them, with Field,
// to its own configuration's names.
type FieldError struct {
	Field string // "RenewDeadline"
	Msg   string // "must be less than LeaseTTL (15s)"
}

func (e *FieldError) Error() string { return "lock: " + e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.LeaseTTL, DefaultLeaseTTL)
	def(&c.RenewInterval, DefaultRenewInterval)
	def(&c.RenewDeadline, DefaultRenewDeadline)
	def(&c.RetryInterval, DefaultRetryInterval)
	opCap := DefaultOpTimeout
	if c.ClientTimeout > 0 {
		opCap = c.ClientTimeout
	}
	def(&c.OpTimeout, max(min(opCap, c.RenewInterval/2, c.LeaseTTL-c.RenewDeadline), time.Nanosecond))
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	for _, f := range []struct{ name, v string }{{"Key", c.Key}, {"EpochKey", c.EpochKey}, {"ID", c.ID}} {
		if f.v == "" {
			return fieldErr(f.name, "required")
		}
	}
	if c.Client == nil {
		return fieldErr("Client", "required")
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"LeaseTTL", c.LeaseTTL}, {"RenewInterval", c.RenewInterval}, {"RenewDeadline", c.RenewDeadline},
		{"RetryInterval", c.RetryInterval}, {"OpTimeout", c.OpTimeout},
	} {
		if f.d <= 0 {
			return fieldErr(f.name, "must be positive")
		}
	}
	switch {
	case c.RenewDeadline >= c.LeaseTTL:
		return fieldErr("RenewDeadline", "must be less than LeaseTTL (%s)", c.LeaseTTL)
	case c.RenewInterval >= c.RenewDeadline:
		return fieldErr("RenewInterval", "must be less than RenewDeadline (%s)", c.RenewDeadline)
	case c.ClientTimeout < 0:
		return fieldErr("ClientTimeout", "must not be negative")
	case c.ClientTimeout > 0 && c.ClientTimeout >= c.RenewDeadline:
		return fieldErr("ClientTimeout", "must be less than RenewDeadline (%s)", c.RenewDeadline)
	case c.ClientTimeout > 0 && c.ClientTimeout >= MaxClientTimeout(c.LeaseTTL, c.RenewDeadline):
		return fieldErr("ClientTimeout", "must be less than LeaseTTL - RenewDeadline (%s): a renewal stuck for ClientTimeout would outlive the lease",
			MaxClientTimeout(c.LeaseTTL, c.RenewDeadline))
	case c.OpTimeout >= c.RenewDeadline:
		return fieldErr("OpTimeout", "must be less than RenewDeadline (%s)", c.RenewDeadline)
	case c.OpTimeout > c.LeaseTTL-c.RenewDeadline:
		// An obtain that takes OpTimeout must still leave the deadline
		// before the lease's expiry.
		return fieldErr("OpTimeout", "must not exceed LeaseTTL - RenewDeadline (%s)", c.LeaseTTL-c.RenewDeadline)
	}
	return nil
}

// MaxClientTimeout is the bound a Redis client's own socket timeout must
// stay strictly below: lease_ttl - renew_deadline, the time between a
// leader's step-down and the expiry of its lease. A lease call the elector
// abandoned at the step-down then ends (and frees its connection) before
// the lease it was for can expire, so abandoned calls cannot pile up from
// one term into the next. The step-down itself never waits for the client.
func MaxClientTimeout(leaseTTL, renewDeadline time.Duration) time.Duration {
	return leaseTTL - renewDeadline
}

// Term identifies one leadership: the lease value stored in Redis (which
// fencing scripts compare against) and the term number.
type Term struct {
	// Value is the lease key's value while this term lasts.
	Value string
	// Epoch is max(previous epoch + 1, Redis TIME in ms).
	Epoch int64
	// ID is the leader's replica id.
	ID string
}

// LogValue logs the term without the lease value.
func (t Term) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("epoch", t.Epoch), slog.String("leader", t.ID))
}

// Elector campaigns for the lease and runs the leader's work while it holds
// it. Its methods are safe for concurrent use; Run may be called once.
type Elector struct {
	cfg    Config
	locker *redislock.Client
	wake   chan struct{}  // a standby tries now
	verify chan struct{}  // a leader renews now
	reread atomic.Bool    // a standby logs who leads at its next try
	ops    sync.WaitGroup // Redis calls in flight, awaited by Run

	// retryToken is the lease token of an obtain or release that failed
	// without an answer; only Run's goroutine touches it.
	retryToken string

	// onLeading, set by tests before Run, sees every change of Leading()
	// in order, under mu.
	onLeading func(Term, bool)

	mu      sync.Mutex // guards term and leading
	term    Term
	leading bool
}

// New validates cfg (a copy is kept) and returns an Elector. It does no
// I/O: the first Redis call is Run's.
func New(cfg Config) (*Elector, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Elector{
		cfg:    cfg,
		locker: redislock.New(cfg.Client),
		wake:   make(chan struct{}, 1),
		verify: make(chan struct{}, 1),
	}
	return e, nil
}

// Leading returns the current term and true while this replica leads.
func (e *Elector) Leading() (Term, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.term, e.leading
}

func (e *Elector) setLeading(t Term, leading bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.term, e.leading = t, leading
	if e.onLeading != nil {
		e.onLeading(t, leading)
	}
}

// Wake makes a waiting standby try to obtain the lease now.
func (e *Elector) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
