package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/callback"
	"github.com/tokend/tokend/cmd/tokend/internal/config"
	"github.com/tokend/tokend/cmd/tokend/internal/httpapi"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/platform"
)

// componentProvider is the provider name a component's token shows in
// status: its own family, so that no WeChat-shaped route serves it as an
// app's token.
const componentProvider = httpapi.ComponentProvider

// buildComponents returns the refresher apps of the components: each
// component's token, fetched with the verify ticket stored in st.
func buildComponents(cfg *config.Config, st *store.Store, h partHooks, logger *slog.Logger) ([]refresher.App, error) {
	out := make([]refresher.App, 0, len(cfg.Components))
	pst := platform.New(st)
	for i, c := range cfg.Components {
		path := fmt.Sprintf("components[%d]", i)
		id := c.ID
		p, err := openplatform.New(openplatform.Config{
			ComponentAppID: c.AppID, SecretFunc: secretSource(c.AsApp(), path+".secret_file", h, logger),
			BaseURL: c.BaseURL, MinExpiresIn: cfg.Refresh.MinExpiresIn, StartPushAfter: c.StartPushAfter,
			VerifyTicket: func(ctx context.Context) (platform.StoredVerifyTicket, error) { return pst.ReadVerifyTicket(ctx, id) },
		})
		if err != nil {
			return nil, config.LibraryError(err, path)
		}
		out = append(out, refresher.App{ID: id, Provider: p, Kind: componentProvider, Repeat: p.Repeat()})
	}
	return out, nil
}

// newCallback is the push route of the components, or nil without any.
// Authorization events call api_query_auth through a Component of their
// own (it sends the component token, never the secret); audit records
// what they did.
func newCallback(cfg *config.Config, st *store.Store, log *slog.Logger, repeats callback.Repeats, audit func(fleet.AuditEntry)) (*callback.Handler, error) {
	if len(cfg.Components) == 0 {
		return nil, nil
	}
	comps := make([]callback.Component, 0, len(cfg.Components))
	for i, c := range cfg.Components {
		auth, err := authComponent(cfg, i)
		if err != nil {
			return nil, err
		}
		comps = append(comps, callback.Component{ID: c.ID, AppID: c.AppID, Crypt: c.Crypt(), Auth: auth, Kinds: c.Tickets})
	}
	return callback.New(callback.Config{Components: comps, Store: platform.New(st), Timeout: callbackTimeout(cfg), Logger: log, Repeats: repeats, Audit: audit})
}

// callbackTimeout bounds a push's store write: WeChat waits 5 s for
// "success"; three Redis timeouts, at most 3 s.
func callbackTimeout(cfg *config.Config) time.Duration {
	return min(3*cfg.Redis.Timeout, callback.DefaultTimeout)
}

// callbackRoute is cb as httpapi.Config.Callback: nil (no route) without
// components, never a typed nil.
func callbackRoute(cb *callback.Handler) interface{ Register(*http.ServeMux) } {
	if cb == nil {
		return nil
	}
	return cb
}

// componentApps are the components as the HTTP API's credentials (status,
// /v1/apps/<id>/token); only the component routes of the WeChat-shaped
// ones serve them, checking the secret (re-read from secret_file).
func componentApps(cfg *config.Config, log *slog.Logger) []httpapi.App {
	out := make([]httpapi.App, 0, len(cfg.Components))
	for i, c := range cfg.Components {
		secret := secretSource(c.AsApp(), fmt.Sprintf("components[%d].secret_file", i), partHooks{log: log}, log)
		out = append(out, httpapi.App{ID: c.ID, Provider: componentProvider, AppID: c.AppID, Secret: secret, AuthorizerTickets: c.Tickets})
	}
	return out
}
