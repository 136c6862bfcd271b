// Package components serves the Open Platform routes of the HTTP API,
// under /v1/components/{id}: a component's authorizers (list, token,
// compare-and-refresh, tickets: authorizers.go) and the authorization page
// flow (pre_auth_code, auth_code exchange: pageflow.go), and the authorizer
// counts /v1/status shows for a component.
//
// Package httpapi mounts it: it hands the routes its client check, its
// credential answers and its JSON errors as an API, and registers Table's
// routes in its own route table (counted in its request metrics, with its
// 405 answers). components imports nothing of httpapi. What it does NOT
// do: keep any state, or call the upstream itself (the page flow's calls
// are the Platform's).
package components

import (
	"context"
	"errors"
	"net/http"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"
	"github.com/tokend/tokend/store"
)

// API is what the routes need of the HTTP API that mounts them
// (httpapi.Server).
type API interface {
	// Auth guards h with the client check of action on the component the
	// path names ({id}).
	Auth(h http.HandlerFunc, action clients.Action) http.HandlerFunc
	// Serve answers credential id's current value in the app routes'
	// shape: a token, or a ticket when ticket is set.
	Serve(w http.ResponseWriter, r *http.Request, id string, ticket bool)
	// Refresh is the app refresh route's compare-and-refresh of token id.
	Refresh(w http.ResponseWriter, r *http.Request, id string)
	// DecodeBody decodes a JSON request body into v, answering 413 or 400
	// with usage and returning false when it cannot.
	DecodeBody(w http.ResponseWriter, r *http.Request, v any, usage string) bool
	// JSON answers code with v as JSON; Error answers {"error": msg}.
	JSON(w http.ResponseWriter, code int, v any)
	Error(w http.ResponseWriter, code int, msg string)
	// Warn logs a WARN that a lasting condition repeats on every request,
	// limited by msg and id (logged under key).
	Warn(ctx context.Context, msg, key, id string, args ...any)
}

// Store is what the routes need of package store. The value may also be
// an AuthorizerLister and an AuthorizerSummaryReader (store/platform).
type Store interface {
	Record(ctx context.Context, app string) (store.Record, error)
	Status(ctx context.Context, app string) (store.Status, error)
}

// Component is a configured component.
type Component struct {
	ID string
	// AuthorizerTickets are the ticket kinds kept for each authorizer
	// ("<ID>/<appid>:<kind>").
	AuthorizerTickets []string
}

// Config configures Routes. API and Store are required.
type Config struct {
	API        API
	Store      Store
	Components []Component
	// Platform makes the page flow's upstream calls; nil: those routes
	// answer 404.
	Platform Platform
}

// Route is one route: method, path pattern and handler.
type Route struct {
	Method, Path string
	Handler      http.Handler
}

// Routes serves the component routes. Safe for concurrent use.
type Routes struct {
	api      API
	store    Store
	byID     map[string]Component
	platform Platform
}

// New returns the Routes of cfg, or an error naming a missing dependency.
func New(cfg Config) (*Routes, error) {
	if cfg.API == nil || cfg.Store == nil {
		return nil, errors.New("components: API and Store are required")
	}
	rt := &Routes{api: cfg.API, store: cfg.Store, byID: map[string]Component{}, platform: cfg.Platform}
	for _, c := range cfg.Components {
		c.AuthorizerTickets = append([]string(nil), c.AuthorizerTickets...)
		rt.byID[c.ID] = c
	}
	return rt, nil
}

// Table is the routes, for the API's route table.
func (rt *Routes) Table() []Route {
	auth := rt.api.Auth
	return []Route{
		{"GET", "/v1/components/{id}/authorizers", auth(rt.authorizers, clients.Status)},
		{"GET", "/v1/components/{id}/authorizers/{appid}/token", auth(rt.authorizerToken, clients.Token)},
		{"POST", "/v1/components/{id}/authorizers/{appid}/refresh", auth(rt.authorizerRefresh, clients.Refresh)},
		{"GET", "/v1/components/{id}/authorizers/{appid}/tickets/{kind}", auth(rt.authorizerTicket, clients.Ticket)},
		{"POST", "/v1/components/{id}/preauthcode", auth(rt.preAuthCode, clients.Token)},
		{"POST", "/v1/components/{id}/authorizations", auth(rt.authorization, clients.Token)},
	}
}
