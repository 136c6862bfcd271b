package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tokend/tokend/cmd/tokend/internal/config"
	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/refresher/openplatform/keeper"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/platform"
)

// authComponent is a Component for the calls made with the component
// token (api_query_auth, api_authorizer_token, api_get_authorizer_list):
// it never sends the secret nor reads the verify ticket.
func authComponent(cfg *config.Config, i int) (*openplatform.Component, error) {
	c := cfg.Components[i]
	p, err := openplatform.New(openplatform.Config{
		ComponentAppID: c.AppID, Secret: c.ResolvedSecret(), BaseURL: c.BaseURL, MinExpiresIn: cfg.Refresh.MinExpiresIn,
		VerifyTicket: func(context.Context) (platform.StoredVerifyTicket, error) {
			return platform.StoredVerifyTicket{}, store.ErrNotFound
		},
	})
	if err != nil {
		return nil, config.LibraryError(err, fmt.Sprintf("components[%d]", i))
	}
	return p, nil
}

// newKeepers returns one authorizer Keeper per component, working while
// leading says so: authorizer tokens and the tickets of components[].tickets,
// reports with refresh.cooldown and refresh.daily_budget.
func newKeepers(cfg *config.Config, st *store.Store, leading func() (lock.Term, bool), events interface{ Subscribe() *event.Subscription },
	log *slog.Logger, audit func(fleet.AuditEntry), obs keeper.Observer) ([]*keeper.Keeper, error) {
	out := make([]*keeper.Keeper, 0, len(cfg.Components))
	for i, c := range cfg.Components {
		p, err := authComponent(cfg, i)
		if err != nil {
			return nil, err
		}
		tickets := map[string]keeper.TicketFetcher{}
		for _, kind := range c.Tickets {
			t, err := wechat.NewTicket(wechat.TicketConfig{Kind: kind, BaseURL: c.BaseURL, MinExpiresIn: cfg.Refresh.MinExpiresIn})
			if err != nil {
				return nil, config.LibraryError(err, fmt.Sprintf("components[%d].tickets", i))
			}
			tickets[kind] = t
		}
		k, err := keeper.New(keeper.Config{
			ComponentID: c.ID, Component: p, Store: platform.New(st), Leading: leading, Events: events, Rate: c.AuthorizerRate,
			BeforeExpiry: cfg.Refresh.BeforeExpiry, SafetyMargin: cfg.Refresh.SafetyMargin, Logger: log, Audit: audit,
			Tickets: tickets, Cooldown: cfg.Refresh.Cooldown, DailyBudget: cfg.Refresh.DailyBudget, Observer: obs,
		})
		if err != nil {
			return nil, config.LibraryError(err, fmt.Sprintf("components[%d]", i))
		}
		out = append(out, k)
	}
	return out, nil
}
