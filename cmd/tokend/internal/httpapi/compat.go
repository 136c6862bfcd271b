package httpapi

import (
	"context"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/compat"
	"github.com/tokend/tokend/store/platform"
	"github.com/tokend/tokend/store/reader"
)

// newCompat builds the WeChat-shaped routes for cfg's apps: credentials
// from the token reader, stable_token's force_refresh through the refresh
// route's compare-and-refresh (compatRefresh), wrong secrets counted in
// Metrics, repeated WARNs limited like the API's own.
func (a *Server) newCompat(cfg Config) (*compat.Routes, error) {
	apps := make([]compat.App, 0, len(a.apps))
	for _, app := range a.apps {
		apps = append(apps, compat.App{ID: app.ID, Provider: app.Provider, AppID: app.AppID, Tickets: app.Tickets, Secret: app.Secret})
	}
	var authorizer func(ctx context.Context, component, appid string) (platform.Authorizer, error)
	if ar, ok := a.store.(interface { // store.Store; the api_authorizer_token route reads authorizers
		Authorizer(ctx context.Context, component, appid string) (platform.Authorizer, error)
	}); ok {
		authorizer = ar.Authorizer
	}
	return compat.New(compat.Config{
		Apps: apps, Tokens: a.tokensR, Record: a.store.Record, Refresh: a.compatRefresh,
		WrongSecret: a.metrics.WrongSecret, ClientKey: a.compatClientKey(), Events: cfg.Events, Clock: cfg.Clock,
		Logger: a.log, Warn: a.warnRepeated, IndexAll: cfg.Proxy.Enabled, Authorizer: authorizer, Status: a.store.Status,
	})
}

// compatRefresh is casRefresh of app's token for the compat routes,
// waiting at most maxWait and never longer than refresh requests wait: the
// current token (a stale report) or the new one, else false.
func (a *Server) compatRefresh(ctx context.Context, app, reported string, maxWait time.Duration) (reader.Token, bool) {
	res := a.casRefresh(ctx, tokenCredential(app), reported, min(a.refreshWait, maxWait))
	return res.tok, res.outcome == casStale || res.outcome == casRefreshed
}
