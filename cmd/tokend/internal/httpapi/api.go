// Package httpapi serves tokend's HTTP API: health, readiness, metrics,
// status, token and ticket reads, refresh reports and JS-SDK signatures,
// the recent audit entries and mounts the console (/ui/, package
// console, which reads through it: console.go), with bearer-token auth
// and JSON errors, scoped per client (package clients: clients.go); and,
// with Config.Compat, the WeChat-shaped routes
// existing SDKs call, which package compat serves and httpapi mounts
// behind its request metrics (compat.go); with Config.Proxy, proxy mode
// (package proxy) answers unmatched paths that name access_token
// (proxy.go); the Open Platform routes under /v1/components/{id} are
// package components, mounted in the route table (components.go).
// httpapi imports compat, proxy, console, components and clients and the
// leaf table errcodes, and no other cmd/tokend/internal package: compat,
// proxy, console and components take the shared compare-and-refresh, the
// client checks and the status as functions or interfaces, so they import
// nothing back.
// It reads credentials through a reader.Reader and the store; it never
// fetches tokens upstream (the leader does; the Open Platform page-flow
// routes make one upstream call each: package components). Its only state
// is the waits of open refresh requests and the compat routes' in-memory token index (Run
// keeps it current).
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/utils/clock"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"
	"github.com/tokend/tokend/cmd/tokend/internal/compat"
	"github.com/tokend/tokend/cmd/tokend/internal/components"
	"github.com/tokend/tokend/cmd/tokend/internal/console"
	"github.com/tokend/tokend/cmd/tokend/internal/proxy"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/jssdk"
	"github.com/tokend/tokend/store/reader"
)

// maxBody caps request bodies; a refresh report is a few hundred bytes.
const maxBody = 8 << 10

// Store is what the HTTP API needs of package store.
type Store interface {
	Record(ctx context.Context, app string) (store.Record, error)
	Status(ctx context.Context, app string) (store.Status, error)
	Ping(ctx context.Context) error
}

// Fleet is what the HTTP API needs of package store/fleet: the leadership,
// the replica registry and the audit trail.
type Fleet interface {
	Leader(ctx context.Context) (fleet.Leader, error)
	Replicas(ctx context.Context) ([]fleet.Replica, error)
	RecentAudit(ctx context.Context, limit int) ([]fleet.AuditEntry, error)
}

// TokenReader serves credentials (tokens and tickets, by credential id),
// reports and signatures: reader.Reader (library mode), so reads come from
// memory and reports wait on change events.
type TokenReader interface {
	Token(ctx context.Context, app string) (reader.Token, error)
	ReportAndWait(ctx context.Context, app, token string) (reader.Token, error)
	ReportInvalid(ctx context.Context, app, token string) error
	Signature(ctx context.Context, app, kind, url string) (jssdk.Signature, error)
}

// Leader is what the API shows of the local refresher.
type Leader interface {
	Leading() (epoch int64, leading bool)
}

// Metrics counts requests and serves GET /metrics.
type Metrics interface {
	Request(route string, code int)
	// WrongSecret counts a WeChat-shaped token request for app with a
	// wrong secret.
	WrongSecret(app string)
	Handler() http.Handler
}

// Repeats limits a log line that repeats on every request
// (logrepeat.Limiter).
type Repeats interface {
	Log(ctx context.Context, level slog.Level, key, msg string, args ...any)
}

// App is a configured app as the API shows it.
type App struct {
	ID       string
	Provider string // the provider kind, e.g. "wechat"
	// AppID is the account signatures name: appid, WeCom corpid, DingTalk
	// appkey.
	AppID string
	// AgentID is a WeCom app's agentid ("" if none): agent_config
	// signatures need it.
	AgentID string
	// Tickets are the ticket kinds kept for the app, each the credential
	// "<ID>:<kind>".
	Tickets []string
	// AuthorizerTickets are, for a component, the ticket kinds kept for
	// each authorizer ("<ID>/<appid>:<kind>").
	AuthorizerTickets []string
	// Secret returns the app's current secret, for the WeChat-shaped token
	// routes; nil: no secret matches.
	Secret func() string
}

// Config configures a Server. Store, Fleet, Tokens, Leader and Metrics
// are required.
type Config struct {
	Store   Store
	Fleet   Fleet
	Tokens  TokenReader
	Leader  Leader
	Metrics Metrics
	// Apps are the configured apps; any other app answers 404.
	Apps      []App
	ReplicaID string
	// AuthTokens are the accepted bearer tokens, used when Clients is nil.
	// None: /v1/status is open and the token and refresh routes answer
	// 403, unless Open.
	AuthTokens []string
	// Clients authorizes /v1 requests (clients.go) and client keys on the
	// compat routes; it holds the shared bearer list too. Nil: a Set of
	// AuthTokens alone.
	Clients *clients.Set
	// Open opens every route (dev mode, loopback only).
	Open bool
	// RefreshWait bounds a refresh request's wait for a new token.
	// Default 10s.
	RefreshWait time.Duration
	// Cooldown is refresh.cooldown: no fetch sooner after the last. Zero:
	// none.
	Cooldown time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Repeats limits repeated WARN lines; nil: log every line.
	Repeats Repeats
	// Compat serves the WeChat-shaped routes (http.compat).
	Compat bool
	// Events is the process's subscription to token events (an
	// *event.Hub), from which Run keeps the compat routes' token index
	// current; nil: the index re-reads Redis only on a miss.
	Events interface{ Subscribe() *event.Subscription }
	// Clock judges the compat token index's expiries. Default: the real
	// clock.
	Clock clock.PassiveClock
	// Proxy is proxy mode (proxy.go); it needs Compat.
	Proxy ProxyConfig
	// Callback, when set, adds the Open Platform push route (package
	// callback), counted like the others; it does its own auth.
	Callback interface{ Register(*http.ServeMux) }
}

// Server serves the CONTRACT HTTP API. Safe for concurrent use.
type Server struct {
	store   Store
	fleet   Fleet
	leader  Leader
	apps    []App
	byID    map[string]App
	replica string
	// clients holds the accepted keys (SHA-256 digests) and their
	// scopes; nil: no key accepted.
	clients      *clients.Set
	open         bool // dev mode: every route open (loopback only)
	tokensR      TokenReader
	refreshWait  time.Duration
	cooldown     time.Duration      // refresh.cooldown: no fetch sooner after the last
	statusFlight singleflight.Group // one status computation at a time
	// stopping is closed when the server shuts down: refresh waits end.
	stopping     chan struct{}
	stoppingOnce sync.Once
	metrics      Metrics
	log          *slog.Logger
	repeats      Repeats // nil: log every line
	// compat serves the WeChat-shaped routes; nil: not served.
	compat *compat.Routes
	// proxy forwards API calls (proxy mode); nil: off.
	proxy *proxy.Proxy
	// callback serves the Open Platform pushes; nil: not served.
	callback interface{ Register(*http.ServeMux) }
	// console serves /ui/ (package console), reading through the API.
	console *console.Handler
	// components serves /v1/components/{id}/... (package components).
	components *components.Routes
}

// New returns a Server for cfg, or an error naming a missing dependency.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Fleet == nil || cfg.Tokens == nil || cfg.Leader == nil || cfg.Metrics == nil {
		return nil, errors.New("httpapi: Store, Fleet, Tokens, Leader and Metrics are required")
	}
	if cfg.RefreshWait < 0 || cfg.Cooldown < 0 {
		return nil, fmt.Errorf("httpapi: negative RefreshWait %s or Cooldown %s", cfg.RefreshWait, cfg.Cooldown)
	}
	if cfg.RefreshWait == 0 {
		cfg.RefreshWait = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		store: cfg.Store, fleet: cfg.Fleet, tokensR: cfg.Tokens, leader: cfg.Leader, metrics: cfg.Metrics,
		apps: append([]App(nil), cfg.Apps...), byID: map[string]App{}, replica: cfg.ReplicaID,
		open: cfg.Open, refreshWait: cfg.RefreshWait, cooldown: cfg.Cooldown,
		stopping: make(chan struct{}), log: cfg.Logger, repeats: cfg.Repeats, callback: cfg.Callback,
	}
	for i, a := range s.apps {
		a.Tickets = append([]string(nil), a.Tickets...)
		s.apps[i] = a
		s.byID[a.ID] = a
	}
	if s.clients = cfg.Clients; s.clients == nil {
		var err error
		if s.clients, err = sharedSet(cfg.AuthTokens); err != nil {
			return nil, err
		}
	}
	if cfg.Compat {
		var err error
		if s.compat, err = s.newCompat(cfg); err != nil {
			return nil, err
		}
	}
	var err error
	if s.proxy, err = s.newProxy(cfg); err != nil {
		return nil, err
	}
	if s.components, err = s.newComponents(cfg); err != nil {
		return nil, err
	}
	if s.console, err = console.New(console.Config{Source: consoleSource{s}, Replica: s.replica, Logger: s.log}); err != nil {
		return nil, err
	}
	return s, nil
}

// Run keeps the compat routes' token index current from Config.Events
// until ctx ends; it returns nil. Without Compat it only waits.
func (a *Server) Run(ctx context.Context) error {
	if a.compat == nil {
		<-ctx.Done()
		return nil
	}
	return a.compat.Run(ctx)
}

// Shutdown ends every refresh wait (they answer 503). Safe to call twice.
func (a *Server) Shutdown() {
	a.stoppingOnce.Do(func() { close(a.stopping) })
}

// route is one entry of routes: pattern method and path, and the handler.
type route = struct {
	method, path string
	h            http.Handler
}

// routes are the API's routes.
func (a *Server) routes() []route {
	return append([]route{
		{"GET", "/healthz", http.HandlerFunc(a.healthz)},
		{"GET", "/readyz", http.HandlerFunc(a.readyz)},
		{"GET", "/metrics", a.metrics.Handler()},
		{"GET", "/v1/status", a.auth(a.status, clients.Status)},
		{"GET", "/v1/apps/{app}/token", a.auth(a.token, clients.Token)},
		{"POST", "/v1/apps/{app}/refresh", a.auth(a.refresh, clients.Refresh)},
		{"GET", "/v1/apps/{app}/tickets/{kind}", a.auth(a.ticket, clients.Ticket)},
		{"POST", "/v1/apps/{app}/tickets/{kind}/refresh", a.auth(a.ticketRefresh, clients.Refresh)},
		{"POST", "/v1/apps/{app}/signature", a.auth(a.signature, clients.Sign)},
		{"GET", "/v1/audit", a.auth(a.audit, clients.Status)},
		{"GET", "/ui/", a.console},
	}, a.componentRoutes()...)
}

// Handler is the API's routes, counted in Metrics.
func (a *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	allow := map[string][]string{}
	var paths []string
	for _, r := range a.routes() {
		mux.Handle(r.method+" "+r.path, r.h)
		if allow[r.path] == nil {
			paths = append(paths, r.path)
		}
		allow[r.path] = append(allow[r.path], r.method)
		if r.method == "GET" {
			allow[r.path] = append(allow[r.path], "HEAD") // GET patterns match HEAD
		}
	}
	for _, p := range paths {
		methods := strings.Join(allow[p], ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", methods)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed; allowed: "+methods)
		})
	}
	if a.compat != nil {
		a.compat.Register(mux)
	}
	if a.callback != nil {
		a.callback.Register(mux)
	}
	mux.Handle("/", a.fallback())
	return a.instrument(mux)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap exposes the connection's writer to http.ResponseController: the
// proxy lifts the server's read and write deadlines for its transfers, and
// flushes streamed answers, through the wrapper.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// instrument counts requests by route pattern and status code.
func (a *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "other"
		}
		a.metrics.Request(route, rec.code)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// warnRepeated logs a WARN that a lasting condition (Redis down) repeats
// on every request, limited by message and app.
func (a *Server) warnRepeated(ctx context.Context, msg, appKey, app string, args ...any) {
	args = append([]any{appKey, app}, args...)
	if a.repeats == nil {
		a.log.WarnContext(ctx, msg, args...)
		return
	}
	a.repeats.Log(ctx, slog.LevelWarn, msg+"\x00"+app, msg, args...)
}

func (a *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "redis unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// tokenAnswer is WeChat's shape plus refreshed for the refresh route.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	Refreshed   *bool  `json:"refreshed,omitempty"`
}

// expiresIn is the remaining life of tok in whole seconds.
func expiresIn(tok reader.Token) int64 {
	return max(int64(time.Until(tok.ExpiresAt)/time.Second), 0)
}

// knownApp answers 404 and returns false for an app not configured.
func (a *Server) knownApp(w http.ResponseWriter, r *http.Request) (App, bool) {
	app, ok := a.byID[r.PathValue("app")]
	if !ok {
		writeError(w, http.StatusNotFound, "unknown app")
	}
	return app, ok
}

func (a *Server) token(w http.ResponseWriter, r *http.Request) {
	if app, ok := a.knownApp(w, r); ok {
		a.serve(w, r, tokenCredential(app.ID))
	}
}

// serve answers the current value of c: 200 in c's shape, 503 when there
// is no valid one or Redis cannot be read (stale-if-error: a cached value
// is served until it expires).
func (a *Server) serve(w http.ResponseWriter, r *http.Request, c credential) {
	tok, err := a.tokensR.Token(r.Context(), c.id)
	switch {
	case errors.Is(err, reader.ErrNoToken):
		writeError(w, http.StatusServiceUnavailable, "no valid "+c.noun)
	case err != nil:
		a.warnRepeated(r.Context(), "api: read "+c.noun+" failed", "app", c.id, "err", err)
		writeError(w, http.StatusServiceUnavailable, "redis unavailable")
	default:
		writeJSON(w, http.StatusOK, c.answer(tok, nil))
	}
}
