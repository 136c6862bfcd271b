package httpapi

import (
	"context"
	"net/http"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"
	"github.com/tokend/tokend/cmd/tokend/internal/compat"
	"github.com/tokend/tokend/cmd/tokend/internal/components"
)

// ComponentProvider is the Provider of a component's App: its
// authorizers are served under /v1/components/{id} (package components).
// One name with the compat routes'.
const ComponentProvider = compat.ComponentProvider

// newComponents builds the Open Platform routes for cfg's components: the
// page flow through Config.Callback when it has one (components.Platform).
func (a *Server) newComponents(cfg Config) (*components.Routes, error) {
	var comps []components.Component
	for _, app := range a.apps {
		if app.Provider == ComponentProvider {
			comps = append(comps, components.Component{ID: app.ID, AuthorizerTickets: app.AuthorizerTickets})
		}
	}
	p, _ := cfg.Callback.(components.Platform)
	return components.New(components.Config{API: componentsAPI{a}, Store: a.store, Components: comps, Platform: p})
}

// componentRoutes are the component routes, for routes.
func (a *Server) componentRoutes() []route {
	var out []route
	for _, r := range a.components.Table() {
		out = append(out, route{r.Method, r.Path, r.Handler})
	}
	return out
}

// componentsAPI is the component routes' view of the API (components.API).
type componentsAPI struct{ a *Server }

func (c componentsAPI) Auth(h http.HandlerFunc, action clients.Action) http.HandlerFunc {
	return c.a.auth(h, action)
}

func (c componentsAPI) Serve(w http.ResponseWriter, r *http.Request, id string, ticket bool) {
	if ticket {
		c.a.serve(w, r, ticketCredential(id))
		return
	}
	c.a.serve(w, r, tokenCredential(id))
}

func (c componentsAPI) Refresh(w http.ResponseWriter, r *http.Request, id string) {
	c.a.compareAndRefresh(w, r, tokenCredential(id))
}

func (componentsAPI) DecodeBody(w http.ResponseWriter, r *http.Request, v any, usage string) bool {
	return decodeBody(w, r, v, usage)
}

func (componentsAPI) JSON(w http.ResponseWriter, code int, v any)       { writeJSON(w, code, v) }
func (componentsAPI) Error(w http.ResponseWriter, code int, msg string) { writeError(w, code, msg) }

func (c componentsAPI) Warn(ctx context.Context, msg, key, id string, args ...any) {
	c.a.warnRepeated(ctx, msg, key, id, args...)
}
