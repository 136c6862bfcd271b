// Package refresher keeps each configured credential fresh in Redis: an
// app's access token, or a ticket derived from one. It takes part in the
// leader election (package lock) and, only while leading, schedules
// proactive refreshes before expiry, handles refresh reports with
// compare-and-refresh, takes a fetch ticket right before each upstream
// call, and writes through package store, whose fencing decides which
// value wins.
//
// Rules: a credential is due at expires_at - BeforeExpiry, never before
// half its life, jittered; times come from Redis (TTL and TIME), not from
// local clocks. A failed fetch never replaces the stored value; transient
// errors back off exponentially (RetryMin..RetryMax, jittered),
// configuration errors retry every ConfigRetry, the daily quota (45009) and
// the daily budget stop calls until the next quota day (UTC+8 on Redis's
// clock), a windowed budget (App.Budgets) until its window ends. Corrupt
// keys (store.ErrCorrupt) never cause a fetch: they are reported once and
// retried every ConfigRetry.
//
// Kinds (App.Parent, App.Repeat): a ticket is fetched with its parent's
// token as stored right before the fetch, and waits while there is none; a
// ticket call that rejects that token reports it (compare-and-refresh of
// the parent) and the ticket is fetched again once the parent changed. An
// upstream that answers the stored value again keeps its expiry by the
// App.Repeat rule, atomically in the write; near the expiry such a value
// is asked for at a bounded rate (package plan's Pace) until a new one
// arrives. Tokens with a Prober are probed about every App.ProbeEvery; a
// rejected token is reported like a business app's report.
//
// Pushed inputs (upstream.Gate, the Open Platform's verify ticket): a
// provider that needs one is asked before the fetch ticket is taken; with
// no usable input nothing is taken or called and the credential waits
// ("input"), looked at again every ReportPoll; an input the upstream
// refuses (upstream.ClassInput) is not retried until a new one arrives.
// While leading, each such provider is tended every ReportPoll (asking
// the upstream to resume stopped pushes).
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
// What it does NOT promise: that a value is valid upstream until its
// expiry when another caller fetched it first (a first-seen expiry is then
// later than the truth), nor that a probe catches a rotation sooner than
// one ProbeEvery.
//
// Providers live in subpackages (refresher/wechat) and implement
// upstream.Provider (package refresher/upstream).
package refresher

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/internal/logonce"
	"github.com/tokend/tokend/refresher/internal/memo"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

// Store is what the refresher needs of package store.
type Store interface {
	Record(ctx context.Context, app string) (store.Record, error)
	TakeTicket(ctx context.Context, app, leaseValue string, dailyBudget int) (store.Ticket, error)
	// TakeTicketBudgets is TakeTicket with windowed budgets; used only for
	// credentials that have App.Budgets.
	TakeTicketBudgets(ctx context.Context, app, leaseValue string, dailyBudget int, budgets []store.Budget) (store.Ticket, error)
	WriteToken(ctx context.Context, w store.Write) (store.WriteResult, error)
	PendingReportsFor(ctx context.Context, apps []string) (map[string]string, error)
	PruneReports(ctx context.Context, known []string) (int, error)
	RepairRecord(ctx context.Context, app, leaseValue string) (store.Record, error)
	PendingReport(ctx context.Context, app string) (string, error)
	ClearReport(ctx context.Context, app, token string) (bool, error)
	// Report files a report of a rejected token, as business apps do.
	Report(ctx context.Context, app, token string) error
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

// Refresher keeps tokens fresh while its replica leads. Its methods are
// safe for concurrent use; Run may be called once.
type Refresher struct {
	cfg  Config
	apps map[string]App
	ids  []string // the configured app ids, in config order
	// children are the tickets of each token that has some.
	children map[string][]string

	logs *logonce.Limiter

	// mem is what the refresher remembers per app between checks.
	mem *memo.Memo

	mu     sync.Mutex // guards the fields below
	states map[string]AppState
	term   lock.Term
	// running: the app's check runs (probes wait for it).
	running map[string]bool
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
		cfg: cfg, apps: map[string]App{}, states: map[string]AppState{}, mem: memo.New(), running: map[string]bool{},
		children: map[string][]string{}, logs: logonce.New(cfg.Logger, cfg.Clock),
	}
	for _, a := range cfg.Apps {
		if _, kind := store.Parent(a.ID); a.Parent != "" && a.Kind == "" {
			a.Kind = kind
		}
		r.apps[a.ID] = a
		r.ids = append(r.ids, a.ID)
		r.states[a.ID] = AppState{ID: a.ID, Kind: a.Kind, Parent: a.Parent, Repeat: a.Repeat.String()}
		if a.Parent != "" {
			r.children[a.Parent] = append(r.children[a.Parent], a.ID)
		}
	}
	return r, nil
}

// Run takes part in the election until ctx is cancelled, refreshing while
// leading. It returns nil after ctx is cancelled.
func (r *Refresher) Run(ctx context.Context) error {
	return r.cfg.Elector.Run(ctx, r.lead)
}

// AppState is the leader-side view of one credential. It holds no token.
type AppState struct {
	// Kind is App.Kind (a ticket's kind when not set); Parent App.Parent;
	// Repeat the App.Repeat rule ("new", "same_trusted", "same_first_seen").
	ID, Kind, Parent, Repeat string
	// ExpiresAt is when the value this replica last wrote expires (the
	// effective expiry, after the Repeat rule).
	ExpiresAt   time.Time
	NextRefresh time.Time
	// Waiting is what the credential waits for besides its due time:
	// "" (nothing), "rollover" (the upstream still answers the stored
	// value: asked at a bounded rate until a new one arrives), "parent" (a
	// ticket with no usable parent token yet), "budget" (a budget refused
	// the fetch) or "input" (an upstream.Gate provider has no usable pushed
	// input, e.g. no component_verify_ticket). WaitingFor names the parent or the budget ("daily", or
	// "<key> <limit>/<window>"); WaitUntil is when a budget's wait ends
	// (local clock).
	Waiting, WaitingFor string
	WaitUntil           time.Time
	// Probe is the last probe's outcome ("ok", "rejected", "failed"; ""
	// before the first or when not probed), LastProbe when it ran and
	// ProbeError the error of a failed probe.
	Probe, ProbeError string
	LastProbe         time.Time
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
