// Package keeper keeps an Open Platform component's authorizer tokens and
// tickets fresh on the leader (Keeper); the component's own token and its
// upstream calls are package openplatform's.
package keeper

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/platform"
)

// A Keeper keeps the tokens of one component's authorizers fresh while
// this replica leads: the authorizers are the entries of the component's
// authorizers hash in Redis (a dynamic set, not configuration), each
// refreshed with api_authorizer_token before its expiry, at most
// Config.Rate calls a second, the refresh token the upstream
// returns written with the token in one fenced script. 61023 marks an
// authorizer "needs re-authorization": no call is made for it until its
// stored refresh token changes (a new authorization). A hash that is
// empty while the component has a token is rebuilt from
// api_get_authorizer_list before anything is refreshed.
//
// The hash is read whole (HSCAN pages) when leadership starts, every
// Config.Resync, and when its size (HLEN, every 5 ticks) differs
// from the last read (a lost hash, a missed event); in between,
// authorization events (event.Input for "<component>/<appid>") re-read
// one entry. At rest a Keeper costs one HLEN a second and one scan per
// Resync, nothing per authorizer.
//
// Tickets (Config.Tickets): each authorizer's tickets
// ("<component>/<appid>:<kind>") are fetched with its token as stored,
// never with one in its last moments (plan.Parent), and written only while
// the authorizer is stored. A ticket call refused for the token files a
// report of it. Reports (the reports hash, event.Report) of an
// authorizer's token are compare-and-refresh (plan.Decide): a report of
// the current token refreshes it once, at most once per
// Config.Cooldown; a report of any other value is cleared without a
// call. Every upstream call (tokens and tickets) counts against Rate.
//
// What it does NOT do: share its schedule with the refresher (status and
// metrics see authorizers through Summary, Observer and their status
// keys, not the refresher's states).
type Keeper struct {
	cfg Config

	mu      sync.Mutex // guards the fields below
	entries map[string]*kept
	epoch   int64 // the term the entries belong to; 0: none
	resync  time.Time
	counted time.Time       // when the hash was last counted
	stored  int             // entries the last full read found (garbage included)
	wake    map[string]bool // appids to re-read; "" = everything
	// reports are appids whose pending report to look at, from when
	// (event.Report, or a cooldown's end); a full read looks at all.
	reports map[string]time.Time
	// published is the Summary last written to Redis, at pubAt.
	published Summary
	pubAt     time.Time
}

// kept is one authorizer as the keeper tracks it.
type kept struct {
	due      time.Time
	expires  time.Time
	refused  string // the refresh token answered 61023 ("" none)
	failures int
	lastErr  string
	// reported is the reported token the next refresh is for ("" none);
	// its report is cleared after the write.
	reported string
	// tickets are its tickets by kind (Config.Tickets).
	tickets map[string]*keptTicket
}

// Store is what a Keeper needs of package store.
type Store interface {
	ScanAuthorizers(ctx context.Context, component string, page int, fn func([]platform.Authorizer) error) (int, int, error)
	Authorizer(ctx context.Context, component, appid string) (platform.Authorizer, error)
	CountAuthorizers(ctx context.Context, component string) (int, error)
	PutAuthorizers(ctx context.Context, component string, list ...platform.Authorizer) error
	Record(ctx context.Context, app string) (store.Record, error)
	TakeTicket(ctx context.Context, app, leaseValue string, dailyBudget int) (store.Ticket, error)
	WriteAuthorizerToken(ctx context.Context, w store.Write, refreshToken string) (store.WriteResult, error)
	SetStatus(ctx context.Context, app string, st store.Status) error
	SetAuthorizerSummary(ctx context.Context, component string, sum platform.AuthorizerSummary) error
	WriteAuthorizerTicket(ctx context.Context, w store.Write) (store.WriteResult, error)
	Report(ctx context.Context, app, token string) error
	PendingReportsFor(ctx context.Context, apps []string) (map[string]string, error)
	ClearReport(ctx context.Context, app, token string) (bool, error)
}

// Config configures a Keeper. ComponentID, Component, Store and
// Leading are required.
type Config struct {
	ComponentID string
	Component   *openplatform.Component
	Store       Store
	// Leading is the refresher's term (refresher.Refresher.Leading).
	Leading func() (lock.Term, bool)
	// Events, when set, wakes the keeper on authorization events.
	Events interface{ Subscribe() *event.Subscription }
	// Rate is the most api_authorizer_token calls a second. Default 20.
	Rate float64
	// BeforeExpiry: a token is refreshed this long before its expiry (at
	// most half its life), spread randomly over a quarter of that, later.
	// Default 10m. SafetyMargin as refresher.Config (capped at 10% of a
	// token's life). Default 1m.
	BeforeExpiry, SafetyMargin time.Duration
	// Resync is how often the whole hash is read again. Default 5m.
	Resync time.Duration
	// Tick is the scheduling step. Default 200ms.
	Tick   time.Duration
	Clock  clock.WithTicker
	Logger *slog.Logger
	// Audit, when set, records refreshes, 61023 and rebuilds.
	Audit func(fleet.AuditEntry)
	// Tickets are the ticket kinds kept for every authorizer, each with the
	// provider fetching it with the authorizer's token (wechat.Ticket).
	// Default none.
	Tickets map[string]TicketFetcher
	// Cooldown: a reported token is refreshed only when it was fetched at
	// least this long ago (else the report waits for it). Default 30s.
	Cooldown time.Duration
	// DailyBudget is each authorizer credential's daily fetch budget
	// (store.TakeTicket), as refresher.Config.DailyBudget. Default 0 (and
	// any value <= 0): none.
	DailyBudget int
	// Observer, when set, is told of refreshes, reports and the counts
	// by state (metrics).
	Observer Observer
}

// TicketFetcher fetches a ticket with a parent token
// (upstream.FetchRequest.ParentToken).
type TicketFetcher interface {
	Fetch(ctx context.Context, req upstream.FetchRequest) (upstream.Token, error)
}

// Defaults of Config.
const (
	DefaultAuthorizerRate = 20
	defaultResync         = 5 * time.Minute
	defaultTick           = 200 * time.Millisecond
	defaultCooldown       = 30 * time.Second
)

// New validates cfg and returns a Keeper.
func New(cfg Config) (*Keeper, error) {
	if cfg.Component == nil || cfg.Store == nil || cfg.Leading == nil || !store.ValidApp(cfg.ComponentID) {
		return nil, errors.New("openplatform: keeper: ComponentID, Component, Store and Leading are required")
	}
	if cfg.Rate < 0 || cfg.BeforeExpiry < 0 || cfg.SafetyMargin < 0 || cfg.Resync < 0 || cfg.Tick < 0 || cfg.Cooldown < 0 {
		return nil, errors.New("openplatform: keeper: rates and durations must not be negative")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultAuthorizerRate
	}
	def(&cfg.BeforeExpiry, 10*time.Minute)
	def(&cfg.SafetyMargin, time.Minute)
	def(&cfg.Resync, defaultResync)
	def(&cfg.Tick, defaultTick)
	def(&cfg.Cooldown, defaultCooldown)
	for kind, f := range cfg.Tickets {
		if f == nil || !store.ValidCredential("a:"+kind) {
			return nil, errors.New("openplatform: keeper: a ticket kind needs a name [a-z_]{1,32} and a fetcher")
		}
	}
	cfg.Tickets = maps.Clone(cfg.Tickets)
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Keeper{cfg: cfg, entries: map[string]*kept{}, wake: map[string]bool{}, reports: map[string]time.Time{}}, nil
}

// Run keeps the authorizers until ctx ends; it returns nil then.
func (k *Keeper) Run(ctx context.Context) error {
	var events <-chan event.Notice
	if k.cfg.Events != nil {
		sub := k.cfg.Events.Subscribe()
		defer sub.Close()
		events = sub.C()
	}
	t := k.cfg.Clock.NewTicker(k.cfg.Tick)
	defer t.Stop()
	budget := 0.0
	for {
		select {
		case <-ctx.Done():
			return nil
		case n, ok := <-events:
			if !ok {
				events = nil // the hub closed: HLEN and Resync still catch changes
				continue
			}
			k.notice(n)
		case <-t.C():
			budget = min(budget+k.cfg.Rate*k.cfg.Tick.Seconds(), max(k.cfg.Rate, 1))
			budget -= float64(k.step(ctx, int(budget)))
		}
	}
}

// notice marks what an event asks to re-read.
func (k *Keeper) notice(n event.Notice) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case n.Kind == event.KindSubscribed && n.Again, n.Kind == event.KindLost:
		k.wake[""] = true
	case n.Kind == event.KindEvent && n.Event.Type == event.Input:
		if n.Event.App == k.cfg.ComponentID {
			k.wake[""] = true
		} else if comp, appid, ok := platform.SplitAuthorizer(n.Event.App); ok && comp == k.cfg.ComponentID {
			k.wake[appid] = true
		}
	case n.Kind == event.KindEvent && n.Event.Type == event.Report:
		if comp, appid, ok := platform.SplitAuthorizer(n.Event.App); ok && comp == k.cfg.ComponentID {
			k.reports[appid] = time.Time{}
		}
	}
}

// step runs one tick while leading: resync or re-read what is marked,
// then refresh up to calls due authorizers. It returns the calls made.
func (k *Keeper) step(ctx context.Context, calls int) int {
	term, leading := k.cfg.Leading()
	now := k.cfg.Clock.Now()
	k.mu.Lock()
	if !leading {
		was := k.epoch != 0
		k.entries, k.epoch, k.published = map[string]*kept{}, 0, Summary{}
		k.mu.Unlock()
		if was {
			k.cfg.Observer.AuthorizerStates(k.cfg.ComponentID, Summary{}) // only the leader knows them
		}
		return 0
	}
	full := k.epoch != term.Epoch || !now.Before(k.resync) || k.wake[""]
	wake := k.wake
	k.wake = map[string]bool{}
	count := !full && now.Sub(k.counted) >= 5*k.cfg.Tick
	k.mu.Unlock()
	if count {
		full = k.changed(ctx, now)
	}
	if full {
		if err := k.sync(ctx, term, now); err != nil {
			k.cfg.Logger.Warn("openplatform: authorizers not read; retried", "component", k.cfg.ComponentID, "err", err)
			k.mu.Lock()
			k.wake[""] = true
			k.mu.Unlock()
			return 0
		}
	} else {
		for appid := range wake {
			k.reread(ctx, appid, now)
		}
	}
	k.checkReports(ctx, now, full)
	n := k.refreshDue(ctx, term, now, calls)
	k.publish(ctx, now)
	return n
}

// publish writes the Summary to Redis when it changed (at most every 5
// ticks) or a minute passed, so that every replica's status shows it.
func (k *Keeper) publish(ctx context.Context, now time.Time) {
	s := k.Summary()
	k.mu.Lock()
	due := (s != k.published && now.Sub(k.pubAt) >= 5*k.cfg.Tick) || now.Sub(k.pubAt) >= time.Minute
	if due {
		k.published, k.pubAt = s, now
	}
	k.mu.Unlock()
	if !due {
		return
	}
	k.cfg.Observer.AuthorizerStates(k.cfg.ComponentID, s)
	err := k.cfg.Store.SetAuthorizerSummary(ctx, k.cfg.ComponentID, platform.AuthorizerSummary{
		Total: s.Total, Valid: s.Valid, Failing: s.Failing, NeedsReauthorization: s.NeedsReauthorization, UpdatedAt: now,
	})
	if err != nil && ctx.Err() == nil {
		k.cfg.Logger.Debug("openplatform: authorizer summary not written", "component", k.cfg.ComponentID, "err", err)
	}
}
