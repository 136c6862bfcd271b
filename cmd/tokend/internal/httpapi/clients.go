package httpapi

import (
	"context"
	"net/http"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"
)

// clientKey is the context key of the authorized client's name.
type clientKey struct{}

// clientOf returns the name of the client a request was authorized as
// ("" when the API is open or keyless).
func clientOf(ctx context.Context) string {
	name, _ := ctx.Value(clientKey{}).(string)
	return name
}

// sharedSet is the Set of the bearer list alone (Config.AuthTokens), for
// a Server given no Clients; nil when there are no tokens either.
func sharedSet(tokens []string) (*clients.Set, error) {
	if len(tokens) == 0 {
		return nil, nil
	}
	shared := make([]clients.Digest, len(tokens))
	for i, t := range tokens {
		shared[i] = clients.KeyDigest(t)
	}
	return clients.New(clients.Config{Shared: shared})
}

// auth guards a /v1 route doing action with the app in its path (none:
// status and audit). With keys configured (clients, or the shared bearer
// list) every route needs one: 401 without, 403 for a key not accepted or
// out of the client's scope (apps, actions, cidrs), 429 with Retry-After
// for a client over its refresh rate. Without keys, status and audit are
// open and the rest answer 403, unless in dev mode.
func (a *Server) auth(h http.HandlerFunc, action clients.Action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.clients == nil || a.clients.Empty() {
			if a.open || action == clients.Status {
				h(w, r)
				return
			}
			writeError(w, http.StatusForbidden, "token routes are disabled: configure http.auth_tokens_env or clients")
			return
		}
		key := clients.BearerKey(r)
		d := a.clients.Authorize(a.clients.Source(r), key, routeApp(r), action)
		switch {
		case d.Allowed:
			h(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, d.Client)))
		case d.Reason == clients.ReasonNoKey:
			w.Header().Set("WWW-Authenticate", `Bearer realm="tokend"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token")
		case d.Reason == clients.ReasonUnknownKey:
			writeError(w, http.StatusForbidden, "bearer token not accepted")
		case d.Outcome == clients.Limited:
			w.Header().Set("Retry-After", retryAfter(d.RetryAfter))
			writeError(w, http.StatusTooManyRequests, "client "+d.Client+": "+d.Reason+"; retry after "+retryAfter(d.RetryAfter)+"s")
		default:
			writeError(w, http.StatusForbidden, "client "+d.Client+": "+d.Reason+" ("+string(action)+")")
		}
	}
}

// routeApp is the app (or component) a /v1 route names: its {app} path
// value, or {id} (the component routes). A route naming neither is
// checked for its action alone (status, audit).
func routeApp(r *http.Request) string {
	if app := r.PathValue("app"); app != "" {
		return app
	}
	return r.PathValue("id")
}

// visible reports whether the request's client may see credential id in
// status and audit answers (true when the API is open or keyless).
func (a *Server) visible(ctx context.Context, id string) bool {
	name := clientOf(ctx)
	return name == "" || a.clients.Visible(name, id)
}

// visibleStatus is ans with only the credentials the request's client may
// see (ans is shared between concurrent requests: it is not changed).
func (a *Server) visibleStatus(ctx context.Context, ans statusAnswer) statusAnswer {
	if clientOf(ctx) == "" {
		return ans
	}
	apps := make([]appStatus, 0, len(ans.Apps))
	for _, st := range ans.Apps {
		if a.visible(ctx, st.ID) {
			apps = append(apps, st)
		}
	}
	ans.Apps = apps
	return ans
}

// compatClientKey is the compat routes' check of a client key in the
// secret field (clients.Set.AuthorizeFirst); nil without keys.
func (a *Server) compatClientKey() func(r *http.Request, key string, apps []string, action string) (string, bool) {
	if a.clients == nil || a.clients.Empty() {
		return nil
	}
	return func(r *http.Request, key string, apps []string, action string) (string, bool) {
		d := a.clients.AuthorizeFirst(a.clients.Source(r), key, apps, clients.Action(action))
		return d.App, d.Allowed
	}
}
