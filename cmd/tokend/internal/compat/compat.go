// Package compat serves the WeChat-shaped routes (http.compat): existing
// SDKs get tokens and tickets from tokend by pointing their API base URL,
// or their HTTP transport, at it. Each route answers like its upstream
// (platform.go): HTTP 200, the upstream's envelope and errcodes,
// expires_in the true remaining life of the stored value. They never call
// the upstream.
//
// Token routes authenticate by the app's real secret, compared in
// constant time (SHA-256 digests, crypto/subtle), or by a client key in
// the secret field (Config.ClientKey, which compares digests in constant
// time too and applies the client's apps, actions, cidrs and rate limit);
// a wrong one is counted per app (Config.WrongSecret) and answered no
// differently than the upstream would, as is a client key out of scope.
// stable_token's force_refresh with a client key needs action refresh; a
// client not allowed it, or over its rate, gets the current token, never a
// refresh. Ticket routes find the app by the access token presented
// (tokenIndex, kept current by Run). Bad input (missing or repeated
// parameters, a bad grant_type, a body that is not a JSON object of the
// fields, an oversized query or body, the wrong method) gets the
// upstream's own refusal, never a token and never a 5xx. Parameters a
// route does not read are ignored, as the upstreams ignore them.
//
// Package httpapi builds Routes (when its Config.Compat is set) and mounts
// them on its mux, behind its request metrics; this is the one import
// between cmd/tokend/internal packages. compat imports no internal
// package: what it needs of the API (credential reads, the shared
// compare-and-refresh, the wrong-secret counter, the repeated-WARN limiter)
// comes in through Config.
//
// Not promised: client scopes on the ticket routes (they authenticate by
// the access token, as the upstream does); anything the upstream does
// beyond its token and ticket calls.
package compat

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"k8s.io/utils/clock"

	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/reader"
)

// App is a configured app as the routes see it.
type App struct {
	ID       string
	Provider string // the provider kind, e.g. "wechat"
	// AppID is the account id the routes take: appid, WeCom corpid,
	// Feishu app_id, DingTalk appkey.
	AppID string
	// Tickets are the ticket kinds kept for the app, each the credential
	// "<ID>:<kind>".
	Tickets []string
	// Secret returns the app's current secret; nil: no secret matches.
	Secret func() string
}

// Tokens reads the current value of a credential ("<app>" or
// "<app>:<kind>"): reader.Reader.
type Tokens interface {
	Token(ctx context.Context, id string) (reader.Token, error)
}

// RefreshFunc is compare-and-refresh of app's token reported (httpapi's,
// shared with its refresh route), waiting at most maxWait: the current
// token when reported is no longer current, or the new one when it
// arrives in time; false when there is neither (timeout, cooldown, Redis).
type RefreshFunc func(ctx context.Context, app, reported string, maxWait time.Duration) (reader.Token, bool)

// Config configures Routes. Tokens, Record and Refresh are required.
type Config struct {
	// Apps are the configured apps; the routes serve no other.
	Apps   []App
	Tokens Tokens
	// Record reads an app's token record (store.Store.Record), from which
	// the token index learns tokens.
	Record func(ctx context.Context, app string) (store.Record, error)
	// Refresh answers stable_token's force_refresh.
	Refresh RefreshFunc
	// WrongSecret counts a token request for app with a wrong secret; nil:
	// not counted.
	WrongSecret func(app string)
	// ClientKey checks key, given in the secret field of a token route, as
	// a client key for action ("token", or "refresh" for force_refresh) on
	// the first of apps it allows: that app, or false. It compares in
	// constant time and records its decision (audit, metrics). nil: only
	// the real secret authenticates.
	ClientKey func(r *http.Request, key string, apps []string, action string) (app string, ok bool)
	// Events is the process's subscription to token events (an
	// *event.Hub), from which Run keeps the token index current; nil: the
	// index re-reads Redis only on a miss.
	Events interface{ Subscribe() *event.Subscription }
	// Clock judges the token index's expiries. Default: the real clock.
	Clock clock.PassiveClock
	// Authorizer reads a stored Open Platform authorizer
	// (store.Store.Authorizer) for api_authorizer_token; nil: it answers
	// 61023.
	Authorizer authorizerReader
	// Status reads a credential's status (store.Store.Status): an
	// authorizer without a token that needs re-authorization answers
	// 61023 instead of -1. nil: -1.
	Status func(ctx context.Context, app string) (store.Status, error)
	// IndexAll keeps every app's tokens in the token index, not only
	// those of apps with tickets: AppByToken (proxy mode) needs them.
	IndexAll bool
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Warn logs a WARN that repeats on every request (Redis down), keyed
	// by message and app (httpapi limits it); nil: Logger.WarnContext.
	Warn func(ctx context.Context, msg, appKey, app string, args ...any)
}

// Routes serves the WeChat-shaped routes. Safe for concurrent use.
type Routes struct {
	tokens      Tokens
	refresh     RefreshFunc
	wrongSecret func(app string)
	clientKey   func(r *http.Request, key string, apps []string, action string) (string, bool)
	warn        func(ctx context.Context, msg, appKey, app string, args ...any)
	authorizer  authorizerReader // nil: no authorizers (component.go)
	status      func(ctx context.Context, app string) (store.Status, error)
	events      interface{ Subscribe() *event.Subscription }
	// byID are the apps by id; accounts by family and appid; index finds
	// an app by its access token.
	byID     map[string]App
	accounts map[string][]App
	index    *tokenIndex
}

// New returns Routes for cfg, or an error naming a missing dependency.
func New(cfg Config) (*Routes, error) {
	if cfg.Tokens == nil || cfg.Record == nil || cfg.Refresh == nil {
		return nil, errors.New("compat: Tokens, Record and Refresh are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.WrongSecret == nil {
		cfg.WrongSecret = func(string) {}
	}
	if cfg.Warn == nil {
		log := cfg.Logger
		cfg.Warn = func(ctx context.Context, msg, appKey, app string, args ...any) {
			log.WarnContext(ctx, msg, append([]any{appKey, app}, args...)...)
		}
	}
	a := &Routes{
		tokens: cfg.Tokens, refresh: cfg.Refresh, wrongSecret: cfg.WrongSecret, clientKey: cfg.ClientKey, warn: cfg.Warn,
		events: cfg.Events, byID: map[string]App{}, authorizer: cfg.Authorizer, status: cfg.Status,
	}
	apps := make([]App, 0, len(cfg.Apps))
	overlap := map[string]time.Duration{} // the apps the ticket routes (and AppByToken) serve
	for _, app := range cfg.Apps {
		app.Tickets = append([]string(nil), app.Tickets...)
		apps = append(apps, app)
		a.byID[app.ID] = app
		if len(app.Tickets) > 0 || cfg.IndexAll || app.Provider == ComponentProvider {
			overlap[app.ID] = previousOverlap(app.Provider)
		}
	}
	a.accounts = compatAccounts(apps)
	a.index = newTokenIndex(overlap, cfg.Record, cfg.Clock, cfg.Logger)
	return a, nil
}

// Register adds the routes to mux, one pattern per path (any method: a
// wrong one gets the upstream's refusal).
func (a *Routes) Register(mux *http.ServeMux) {
	for _, rt := range append(a.compatRoutes(), a.componentRoutes()...) {
		mux.Handle(rt.path, compatHandler(rt))
	}
}

// Run keeps the token index current from Config.Events until ctx ends; it
// returns nil.
func (a *Routes) Run(ctx context.Context) error {
	var sub *event.Subscription
	if a.events != nil {
		sub = a.events.Subscribe()
		defer sub.Close()
	}
	a.index.run(ctx, sub)
	return nil
}
