package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	oklog "github.com/oklog/run"
	"github.com/redis/go-redis/v9"
	"k8s.io/utils/clock"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"
	"github.com/tokend/tokend/cmd/tokend/internal/config"
	"github.com/tokend/tokend/cmd/tokend/internal/eviction"
	"github.com/tokend/tokend/cmd/tokend/internal/httpapi"
	"github.com/tokend/tokend/cmd/tokend/internal/logrepeat"
	"github.com/tokend/tokend/cmd/tokend/internal/metrics"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/openplatform/keeper"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/platform"
	"github.com/tokend/tokend/store/reader"
)

type daemonOptions struct {
	// open: every HTTP route open (dev mode, loopback only).
	open bool
	// onListen is called with the HTTP API's address once it listens.
	onListen func(addr string)
	getenv   func(string) string
	// repeats limits repeated log lines (go-redis's logger uses it too);
	// default: a limiter of its own on the real clock.
	repeats *logrepeat.Limiter
}

// daemon is one replica: the refresher (election + leader work) and the
// HTTP API (served from a reader.Reader), joined so that either ending stops
// both.
type daemon struct {
	cfg      *config.Config
	log      *slog.Logger
	opts     daemonOptions
	rdb      redis.UniversalClient
	store    *store.Store
	fleet    *fleet.Store // the registry, audit trail and leader read on store
	ref      *refresher.Refresher
	metrics  *metrics.Metrics
	api      *httpapi.Server
	reader   *reader.Reader
	hub      *event.Hub
	audit    *auditObserver
	clients  *clients.Set // keys and scopes (clients.go); AuthorizeProxy is proxy mode's rule
	refusals *refusalGate // which refused requests get an audit entry (clients.go)
	// keepers keep the authorizer tokens (authorizers.go).
	keepers []*keeper.Keeper
}

func newDaemon(cfg *config.Config, log *slog.Logger, opts daemonOptions) (*daemon, error) {
	if opts.getenv == nil {
		opts.getenv = os.Getenv
	}
	if opts.repeats == nil {
		opts.repeats = logrepeat.New(log, clock.RealClock{})
	}
	rdb, err := newRedis(cfg.Redis, opts.getenv)
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, log: log, opts: opts, rdb: rdb, metrics: metrics.New()}
	if err := d.wire(); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return d, nil
}

func (d *daemon) wire() error {
	cfg := d.cfg
	d.audit = newAuditObserver(d.metrics, cfg.ReplicaID, d.log, clock.RealClock{}, d.warnLimited)
	p, err := newParts(cfg, d.rdb, partHooks{
		onCorrupt: d.corrupt, observer: d.audit, log: d.log, secretReloaded: d.audit.secretReloaded,
		audit: d.audit.add, repeats: d.opts.repeats, keepers: d.metrics.Authorizers(),
	})
	if err != nil {
		return err
	}
	d.store, d.fleet, d.ref, d.hub = p.store, fleet.New(p.store), p.ref, p.hub
	d.audit.st = d.fleet
	tokens := cfg.AuthTokens(d.opts.getenv)
	d.refusals = newRefusalGate(clock.RealClock{})
	if d.clients, err = cfg.ClientSet(d.opts.getenv, d.clientDecision, clock.RealClock{}); err != nil {
		return err
	}
	// Created last: it starts goroutines, which run() stops.
	d.reader, err = reader.New(d.rdb, reader.Config{Prefix: cfg.Redis.Prefix, Logger: d.log, Events: d.hub})
	if err != nil {
		return err
	}
	apps := make([]httpapi.App, 0, len(cfg.Apps))
	for i, a := range cfg.Apps {
		apps = append(apps, httpapi.App{ID: a.ID, Provider: a.Provider, AppID: a.AppID, AgentID: a.AgentID, Tickets: a.Tickets, Secret: p.secrets[i]})
	}
	apps = append(apps, componentApps(cfg, d.log)...)
	d.keepers = p.keepers
	proxyCfg := proxyConfig(cfg, d.metrics)
	proxyCfg.Authorize = d.clients.AuthorizeProxy // the client scopes of proxy mode
	d.api, err = httpapi.New(httpapi.Config{
		Store: platform.New(p.store), Fleet: d.fleet, Tokens: d.reader, Leader: refresherLeading{d.ref}, Metrics: d.metrics,
		Apps: apps, ReplicaID: cfg.ReplicaID, Clients: d.clients, Open: d.opts.open,
		Cooldown: cfg.Refresh.Cooldown, Logger: d.log, Repeats: d.opts.repeats,
		Compat: *cfg.HTTP.Compat, Events: d.hub, Proxy: proxyCfg, Callback: callbackRoute(p.callback),
	})
	if err != nil {
		_ = d.reader.Close()
		return err
	}
	if msg := authWarning(*cfg.HTTP.Listen, len(tokens)+len(cfg.Clients), d.opts.open); msg != "" {
		d.log.Warn(msg)
	}
	return nil
}

// authWarning is the start-up warning for an API whose token and refresh
// routes are closed (403) because no bearer token is configured, or "".
func authWarning(listen string, tokens int, open bool) string {
	if listen == "" || tokens > 0 || open {
		return ""
	}
	return "tokend: no bearer tokens configured: the token, ticket, refresh and signature routes under /v1/apps answer 403; " +
		"to open them set http.auth_tokens_env to an environment variable holding comma-separated tokens"
}

type refresherLeading struct{ r *refresher.Refresher }

func (l refresherLeading) Leading() (int64, bool) {
	t, ok := l.r.Leading()
	return t.Epoch, ok
}

// run runs the replica until ctx is cancelled (SIGTERM/SIGINT): leader work
// stops, the lease is released and announced, HTTP drains, Redis closes.
func (d *daemon) run(ctx context.Context) error {
	defer d.rdb.Close()
	defer d.reader.Close() // before the client it reads through
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g oklog.Group
	g.Add(func() error { <-ctx.Done(); return nil }, func(error) { cancel() })
	g.Add(func() error { return d.ref.Run(ctx) }, func(error) { cancel() })
	g.Add(func() error { return d.hub.Run(ctx) }, func(error) { cancel() })
	g.Add(func() error { return d.opts.repeats.Run(ctx) }, func(error) { cancel() })
	g.Add(func() error { return d.audit.Run(ctx) }, func(error) { cancel() })
	g.Add(func() error { return d.api.Run(ctx) }, func(error) { cancel() })
	for _, k := range d.keepers {
		g.Add(func() error { return k.Run(ctx) }, func(error) { cancel() })
	}
	var listenAddr string
	if listen := *d.cfg.HTTP.Listen; listen != "" {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("http.listen: %w", err)
		}
		listenAddr = ln.Addr().String()
		srv := &http.Server{
			Handler: d.api.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
			ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
		}
		g.Add(func() error {
			d.log.Info("tokend: http api listening", "addr", ln.Addr().String())
			if d.opts.onListen != nil {
				d.opts.onListen(ln.Addr().String())
			}
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}, func(error) {
			// A refresh waiting for the leader answers 503 now instead of
			// being cut when the grace period ends; others finish.
			d.api.Shutdown()
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
		})
	}
	reg := d.registry(listenAddr)
	g.Add(func() error { return reg.Run(ctx) }, func(error) { cancel() })
	if !d.opts.open { // dev mode's embedded Redis never evicts
		cctx, ccancel := context.WithTimeout(ctx, d.housekeepingTimeout())
		eviction.Check(cctx, d.rdb, d.log)
		ccancel()
	}
	d.log.Info("tokend: started", "apps", len(d.cfg.Apps), "prefix", d.cfg.Redis.Prefix, "version", version)
	err := g.Run()
	d.log.Info("tokend: stopped")
	return err
}

// registry is this replica's entry in {prefix}:replicas, listening on
// listen ("" without the HTTP API).
func (d *daemon) registry(listen string) *registry {
	leading := refresherLeading{d.ref}
	return &registry{
		st: d.fleet, clock: clock.RealClock{}, interval: replicaInterval, timeout: d.housekeepingTimeout(),
		warn: d.warnLimited,
		info: func() fleet.ReplicaInfo {
			_, lead := leading.Leading()
			return fleet.ReplicaInfo{ID: d.cfg.ReplicaID, Leader: lead, Version: version, Listen: listen}
		},
	}
}

// housekeepingTimeout bounds the replica's own short Redis exchanges (the
// eviction check at start, each registry write): two Redis timeouts and a
// second of slack.
func (d *daemon) housekeepingTimeout() time.Duration { return 2*d.cfg.Redis.Timeout + time.Second }

// warnLimited logs a WARN that may repeat (a Redis write failing every few
// seconds) once, then at most once a minute with a count.
func (d *daemon) warnLimited(ctx context.Context, msg string, args ...any) {
	d.opts.repeats.Log(ctx, slog.LevelWarn, msg, msg, args...)
}

// corrupt reports a corrupt key the store found (store.Config.OnCorrupt):
// one WARN per key and field (repeats counted, at most one line a minute)
// and a metric. The error names the key, never its value.
func (d *daemon) corrupt(e *store.CorruptError) {
	d.metrics.Corrupt(e.App, e.Repaired)
	d.opts.repeats.Log(context.Background(), slog.LevelWarn, "corrupt\x00"+e.Key+"\x00"+e.Field,
		"store: corrupt key in Redis", "app", e.App, "err", e.Error(), "repaired", e.Repaired)
}
