// Package refresher keeps each configured app's token fresh in Redis. It
// takes part in the leader election (package lock) and, only while leading,
// schedules proactive refreshes before expiry, handles refresh reports with
// compare-and-refresh, takes a fetch ticket right before each upstream call,
// and writes through package store, whose fencing decides which token wins.
//
// Rules: an app is due at expires_at - BeforeExpiry, never before half its
// token's life, jittered; times come from Redis (TTL and TIME), not from
// local clocks. A failed fetch never replaces the stored token; transient
// errors back off exponentially (RetryMin..RetryMax, jittered),
// configuration errors retry every ConfigRetry, the daily quota (45009) and
// the daily budget stop calls until the next quota day (UTC+8 on Redis's
// clock). Corrupt keys (store.ErrCorrupt) never cause a fetch: they are
// reported once and retried every ConfigRetry.
//
// A fetched token is never thrown away: once the ticket is taken the
// upstream call is not cancelled by a step-down or shutdown (bounded by
// FetchTimeout), its write is retried with the same ticket and, if Redis
// still refuses, kept and written before any new fetch of the app.
//
// At rest the leader costs O(apps/1000) Redis commands per ReportPoll (one
// EXISTS per batch of token keys, one read of the pending reports) plus a
// record audit of every app per 2 h; due times are kept per stored version
// and status is written only when it changes.
//
// Providers live in subpackages (refresher/wechat) and implement upstream.Provider (package refresher/upstream).
package refresher

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/utils/clock"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

// Store is what the refresher needs of package store.
type Store interface {
	Record(ctx context.Context, app string) (store.Record, error)
	TakeTicket(ctx context.Context, app, leaseValue string, dailyBudget int) (store.Ticket, error)
	WriteToken(ctx context.Context, w store.Write) (store.WriteResult, error)
	PendingReportsFor(ctx context.Context, apps []string) (map[string]string, error)
	PruneReports(ctx context.Context, known []string) (int, error)
	RepairRecord(ctx context.Context, app, leaseValue string) (store.Record, error)
	PendingReport(ctx context.Context, app string) (string, error)
	ClearReport(ctx context.Context, app, token string) (bool, error)
	SetStatus(ctx context.Context, app string, st store.Status) error
	Subscribe(ctx context.Context) *redis.PubSub
}

// TokenKeyCounter is optionally implemented by a Store: how many of apps'
// token keys exist, in one Redis command (EXISTS k1 ... kN). With it the
// periodic sweep costs one command per batch of apps instead of a record
// read per app.
type TokenKeyCounter interface {
	CountTokenKeys(ctx context.Context, apps []string) (int, error)
}

// Elector is the leader election the refresher takes part in.
type Elector interface {
	Run(ctx context.Context, lead lock.LeadFunc) error
}

// App is one credential to keep fresh: an app's access token, or a ticket
// derived from one (ID "<app>:<kind>", Parent "<app>").
type App struct {
	// ID is the credential id (store.ValidCredential).
	ID       string
	Provider upstream.Provider
	// Kind names the provider for status ("wechat", "wecom", ...), or the
	// ticket kind ("jsapi", "wx_card", "agent_config") for a ticket.
	Kind string
	// Parent is, for a ticket, the credential id of the access token it is
	// fetched with (read from Redis right before each fetch and passed as
	// FetchRequest.ParentToken); "" for a token. A parent must be one of
	// Config.Apps.
	Parent string
	// Repeat is what a repeat fetch of this upstream returns; it decides
	// how a fetched value equal to the stored one is written. Default
	// upstream.RepeatNew.
	Repeat upstream.Repeat
	// Prober, with ProbeEvery > 0, checks the stored token that often with
	// a cheap authenticated call; a rejected token is handled as a report.
	// Optional; tokens only.
	Prober     upstream.Prober
	ProbeEvery time.Duration
	// Budgets are caps on fetches besides Config.DailyBudget (WeCom's
	// hourly ticket limits). Optional.
	Budgets []store.Budget
}

// Defaults of Config, and the daily budget's bounds.
const (
	DefaultBeforeExpiry = 10 * time.Minute
	DefaultSafetyMargin = time.Minute
	DefaultCooldown     = 30 * time.Second
	DefaultDailyBudget  = 1000
	// MaxDailyBudget is WeChat's daily quota of token calls per app, the
	// quota every provider tokend has counts against: a budget above it
	// would never bind.
	MaxDailyBudget = 2000
	// NoDailyBudget as Config.DailyBudget turns the budget off.
	NoDailyBudget = -1
)

// Config configures a Refresher. Zero durations take the defaults named.
type Config struct {
	Store   Store
	Elector Elector
	// Apps are the apps to keep fresh: at least one, ids valid
	// (store.ValidCredential) and unique, each with a Provider.
	Apps []App
	// BeforeExpiry: refresh this long before expiry. Default
	// DefaultBeforeExpiry (10m). Must be greater than SafetyMargin.
	BeforeExpiry time.Duration
	// SafetyMargin is taken off expires_at for the token key's TTL, capped
	// at 10% of the lifetime. Default DefaultSafetyMargin (1m).
	SafetyMargin time.Duration
	// Cooldown: a report does not cause a fetch until the current token is
	// this old. Default DefaultCooldown (30s).
	Cooldown time.Duration
	// DailyBudget caps fetches per app and day: 1 to MaxDailyBudget, or
	// NoDailyBudget (-1) for no cap. Default DefaultDailyBudget (1000).
	DailyBudget int
	// Workers bounds concurrent fetches. Default 8.
	Workers int
	// FetchTimeout bounds one check (reads, upstream call, write). Default 15s.
	FetchTimeout time.Duration
	// RetryMin and RetryMax bound the backoff of transient errors.
	// Defaults 1s and 1m.
	RetryMin, RetryMax time.Duration
	// ConfigRetry is the retry interval after configuration or permission
	// errors. Default 5m.
	ConfigRetry time.Duration
	// ReportPoll: how often pending reports are read even without an
	// event and token keys are checked for existence (a lost key is
	// refetched within it). Default 30s.
	ReportPoll time.Duration
	// Observer receives metrics events. Optional.
	Observer Observer
	Clock    clock.WithTicker
	Logger   *slog.Logger

	// Events, when set, is the process's shared subscription to the
	// events channel (an *event.Hub the caller runs): the leader listens
	// to it for reports. Default nil: each term subscribes through Store.
	Events EventSource
}

// FieldError is a Config field New rejects (Apps[1].ID for an app's).
// Msg names other fields by their Go names (SafetyMargin), so that a
// caller can map them, with Field, to its own configuration's names.
type FieldError struct {
	Field string // "BeforeExpiry"
	Msg   string // "must be greater than SafetyMargin (1m0s): ..."
}

func (e *FieldError) Error() string { return "refresher: " + e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.BeforeExpiry, DefaultBeforeExpiry)
	def(&c.SafetyMargin, DefaultSafetyMargin)
	def(&c.Cooldown, DefaultCooldown)
	def(&c.FetchTimeout, 15*time.Second)
	def(&c.RetryMin, time.Second)
	def(&c.RetryMax, time.Minute)
	def(&c.ConfigRetry, 5*time.Minute)
	def(&c.ReportPoll, 30*time.Second)
	if c.DailyBudget == 0 {
		c.DailyBudget = DefaultDailyBudget
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return fieldErr("Store", "required")
	case c.Elector == nil:
		return fieldErr("Elector", "required")
	}
	if err := c.validateApps(); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"BeforeExpiry", c.BeforeExpiry}, {"SafetyMargin", c.SafetyMargin}, {"Cooldown", c.Cooldown},
		{"FetchTimeout", c.FetchTimeout}, {"RetryMin", c.RetryMin}, {"RetryMax", c.RetryMax},
		{"ConfigRetry", c.ConfigRetry}, {"ReportPoll", c.ReportPoll},
	} {
		if d.d < 0 {
			return fieldErr(d.name, "must not be negative")
		}
	}
	switch {
	case c.BeforeExpiry <= c.SafetyMargin:
		// The key expires SafetyMargin before the token: refreshing later
		// than that leaves readers without a token.
		return fieldErr("BeforeExpiry", "must be greater than SafetyMargin (%s): the key expires that much before the token", c.SafetyMargin)
	case c.RetryMin > c.RetryMax:
		return fieldErr("RetryMin", "must not exceed RetryMax (%s)", c.RetryMax)
	case c.Workers < 0:
		return fieldErr("Workers", "must not be negative")
	case c.DailyBudget < NoDailyBudget || c.DailyBudget > MaxDailyBudget:
		return fieldErr("DailyBudget", "must be from 1 to %d (WeChat's daily limit), or %d for no budget; omit it for %d, got %d",
			MaxDailyBudget, NoDailyBudget, DefaultDailyBudget, c.DailyBudget)
	}
	return nil
}

func (c *Config) validateApps() error {
	if len(c.Apps) == 0 {
		return fieldErr("Apps", "at least one app required")
	}
	seen := map[string]bool{}
	for i, a := range c.Apps {
		f := fmt.Sprintf("Apps[%d].", i)
		switch {
		case a.ID == "":
			return fieldErr(f+"ID", "required")
		case !store.ValidCredential(a.ID):
			return fieldErr(f+"ID", "%q is not a credential id: an app id [A-Za-z0-9_.-]{1,64}, optionally with /<appid> and :<kind>", a.ID)
		case seen[a.ID]:
			return fieldErr(f+"ID", "duplicate id %q", a.ID)
		case a.Provider == nil:
			return fieldErr(f+"Provider", "required")
		}
		seen[a.ID] = true
	}
	return nil
}

// Refresher keeps tokens fresh while its replica leads. Its methods are
// safe for concurrent use; Run may be called once.
type Refresher struct {
	cfg  Config
	apps map[string]App
	ids  []string // the configured app ids, in config order

	logs *logLimiter

	mu     sync.Mutex // guards the fields below
	states map[string]AppState
	term   lock.Term
	// written is the last token write this replica made per app, to write
	// again if Redis loses it in a failover (never logged).
	written map[string]store.Write
	// pending is a fetched token whose write failed, per app: written
	// before any new fetch of the app while it is valid (never logged).
	pending map[string]store.Write
	// plans is the due time chosen for each app's stored version: a
	// re-check of an unchanged record keeps it (no jitter re-roll).
	plans map[string]plan
	// keyUntil is until when (local clock) each app's token key should
	// exist, as last seen; zero when it should not.
	keyUntil map[string]time.Time
	// published is the last status written per app (UpdatedAt zero).
	published map[string]store.Status
	// corrupt is the last corrupt-key error reported per app.
	corrupt map[string]string
}

// plan is the due time picked for one stored version of an app's token.
type plan struct {
	version, ticket int64
	due             time.Time
}

// New validates cfg (copying it) and returns a Refresher. It does no I/O
// and starts no goroutine.
func New(cfg Config) (*Refresher, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Apps = append([]App(nil), cfg.Apps...)
	r := &Refresher{
		cfg: cfg, apps: map[string]App{}, states: map[string]AppState{}, written: map[string]store.Write{},
		pending: map[string]store.Write{}, plans: map[string]plan{}, keyUntil: map[string]time.Time{},
		published: map[string]store.Status{}, corrupt: map[string]string{},
		logs: newLogLimiter(cfg.Logger, cfg.Clock),
	}
	for _, a := range cfg.Apps {
		r.apps[a.ID] = a
		r.ids = append(r.ids, a.ID)
		r.states[a.ID] = AppState{ID: a.ID, Kind: a.Kind}
	}
	return r, nil
}

// Run takes part in the election until ctx is cancelled, refreshing while
// leading. It returns nil after ctx is cancelled.
func (r *Refresher) Run(ctx context.Context) error {
	return r.cfg.Elector.Run(ctx, r.lead)
}

// AppState is the leader-side view of one app. It holds no token.
type AppState struct {
	ID, Kind string
	// ExpiresAt is when the token this replica last wrote expires.
	ExpiresAt   time.Time
	NextRefresh time.Time
	// LastError is the last failed check's error (empty after a success),
	// LastErrorCode the upstream errcode if any, LastErrorClass its class.
	LastError      string
	LastErrorCode  int
	LastErrorClass string
	LastFetch      time.Time
	BudgetUsed     int
	// Fetches counts upstream calls made by this replica.
	Fetches int
}

// States returns a snapshot of every app's state, in config order.
func (r *Refresher) States() []AppState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]AppState, 0, len(r.cfg.Apps))
	for _, a := range r.cfg.Apps {
		out = append(out, r.states[a.ID])
	}
	return out
}

// Leading returns the current term and whether this replica leads.
func (r *Refresher) Leading() (lock.Term, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.term, r.term.Epoch != 0
}

func (r *Refresher) setTerm(t lock.Term) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.term = t
}

// endTerm clears the term if it is still t, and tells the observer. It
// runs the moment the term's context is cancelled, before running checks
// have drained: leadership shown must be leadership held.
func (r *Refresher) endTerm(t lock.Term) {
	r.mu.Lock()
	ours := r.term == t
	if ours {
		r.term = lock.Term{}
	}
	r.mu.Unlock()
	if ours {
		r.cfg.Observer.Leading(false, t.Epoch)
	}
}

func (r *Refresher) updateState(app string, f func(*AppState)) AppState {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.states[app]
	f(&st)
	r.states[app] = st
	return st
}
