package components

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/platform"
)

// Open Platform authorizer routes:
//
//	GET /v1/components/{id}/authorizers?offset=&limit=   a page of authorizers: appid, status, expires_at
//	GET  /v1/components/{id}/authorizers/{appid}/token          an authorizer's token (WeChat's shape)
//	POST /v1/components/{id}/authorizers/{appid}/refresh        compare-and-refresh of it {"invalid_token"}
//	GET  /v1/components/{id}/authorizers/{appid}/tickets/{kind} one of its tickets (components[].tickets)
//
// Client scopes name the component id (routeApp reads {id}): a client
// allowed "op-main" reads every authorizer of op-main. Neither route
// shows a refresh token.

// AuthorizerLister is what the authorizer list needs of the Store;
// without it the list answers 404.
type AuthorizerLister interface {
	ScanAuthorizers(ctx context.Context, component string, page int, fn func([]platform.Authorizer) error) (int, int, error)
}

const (
	defaultAuthorizerPage = 100
	maxAuthorizerPage     = 1000
)

// knownComponent answers 404 and returns false for an id that is no
// configured component.
func (rt *Routes) knownComponent(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if _, ok := rt.byID[id]; !ok {
		rt.api.Error(w, http.StatusNotFound, "unknown component")
		return "", false
	}
	return id, true
}

// knownAuthorizer answers 404 (unknown component) or 400 (bad appid) and
// returns false, or the component and the authorizer's credential id.
func (rt *Routes) knownAuthorizer(w http.ResponseWriter, r *http.Request) (Component, string, bool) {
	id, ok := rt.knownComponent(w, r)
	if !ok {
		return Component{}, "", false
	}
	appid := r.PathValue("appid")
	if !store.ValidApp(appid) {
		rt.api.Error(w, http.StatusBadRequest, "authorizer appid must match [A-Za-z0-9_.-]{1,64}")
		return Component{}, "", false
	}
	return rt.byID[id], platform.AuthorizerID(id, appid), true
}

func (rt *Routes) authorizerToken(w http.ResponseWriter, r *http.Request) {
	if _, id, ok := rt.knownAuthorizer(w, r); ok {
		rt.api.Serve(w, r, id, false)
	}
}

// authorizerRefresh is compare-and-refresh of an authorizer's token: an
// app whose call failed with 40001/40014/42001 reports the token it used.
func (rt *Routes) authorizerRefresh(w http.ResponseWriter, r *http.Request) {
	if _, id, ok := rt.knownAuthorizer(w, r); ok {
		rt.api.Refresh(w, r, id)
	}
}

// authorizerTicket serves an authorizer's ticket of a kind the component
// keeps (components[].tickets), in the app ticket route's shape.
func (rt *Routes) authorizerTicket(w http.ResponseWriter, r *http.Request) {
	comp, id, ok := rt.knownAuthorizer(w, r)
	if !ok {
		return
	}
	kind := r.PathValue("kind")
	if !slices.Contains(comp.AuthorizerTickets, kind) {
		rt.api.Error(w, http.StatusNotFound, "ticket kind not kept for this component's authorizers (components[].tickets)")
		return
	}
	rt.api.Serve(w, r, id+":"+kind, true)
}

// authorizerRow is one authorizer in the list: never a token.
type authorizerRow struct {
	AppID     string     `json:"appid"`
	Status    string     `json:"status"` // valid, expired, needs_reauthorization, failing
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	AuthTime  *time.Time `json:"auth_time,omitempty"`
	LastError string     `json:"last_error,omitempty"`
}

func (rt *Routes) authorizers(w http.ResponseWriter, r *http.Request) {
	id, ok := rt.knownComponent(w, r)
	if !ok {
		return
	}
	lister, ok := rt.store.(AuthorizerLister)
	if !ok {
		rt.api.Error(w, http.StatusNotFound, "authorizers are not kept")
		return
	}
	offset, err1 := intParam(r, "offset", 0)
	limit, err2 := intParam(r, "limit", defaultAuthorizerPage)
	if err1 != nil || err2 != nil || offset < 0 || limit < 1 || limit > maxAuthorizerPage {
		rt.api.Error(w, http.StatusBadRequest, "offset must be >= 0 and limit 1.."+strconv.Itoa(maxAuthorizerPage))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var page []platform.Authorizer
	seen := 0
	total, _, err := lister.ScanAuthorizers(ctx, id, 0, func(list []platform.Authorizer) error {
		for _, x := range list {
			if seen >= offset && len(page) < limit {
				x.RefreshToken = "" // never kept past here
				page = append(page, x)
			}
			seen++
		}
		return nil
	})
	if err != nil {
		rt.api.Warn(r.Context(), "api: read authorizers failed", "component", id, "err", err)
		rt.api.Error(w, http.StatusServiceUnavailable, "redis unavailable")
		return
	}
	rows := make([]authorizerRow, 0, len(page))
	for _, x := range page {
		rows = append(rows, rt.authorizerRow(ctx, id, x))
	}
	rt.api.JSON(w, http.StatusOK, map[string]any{"component": id, "total": total, "offset": offset, "authorizers": rows})
}

// authorizerRow reads one authorizer's record and status.
func (rt *Routes) authorizerRow(ctx context.Context, component string, x platform.Authorizer) authorizerRow {
	row := authorizerRow{AppID: x.AppID, Status: "expired"}
	if !x.AuthTime.IsZero() {
		t := x.AuthTime.UTC()
		row.AuthTime = &t
	}
	cid := platform.AuthorizerID(component, x.AppID)
	if rec, err := rt.store.Record(ctx, cid); err == nil && rec.Valid() {
		t := rec.ExpiresAt.UTC()
		row.Status, row.ExpiresAt = "valid", &t
	}
	st, err := rt.store.Status(ctx, cid)
	switch {
	case err != nil && !errors.Is(err, store.ErrNotFound):
	case st.WaitingFor == "reauthorization":
		row.Status, row.LastError = "needs_reauthorization", st.LastError
	case st.LastError != "" && row.Status != "valid":
		row.Status, row.LastError = "failing", st.LastError
	case st.LastError != "":
		row.LastError = st.LastError
	}
	return row
}

// intParam parses query parameter name, def when absent.
func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}

// Counts is a component's line of authorizer counts in /v1/status.
type Counts struct {
	Total                int        `json:"total"`
	Valid                int        `json:"valid"`
	Failing              int        `json:"failing"`
	NeedsReauthorization int        `json:"needs_reauthorization"`
	UpdatedAt            *time.Time `json:"updated_at"`
}

// AuthorizerSummaryReader reads the leader's authorizer counts
// (store.Store); without it status shows none.
type AuthorizerSummaryReader interface {
	AuthorizerSummary(ctx context.Context, component string) (platform.AuthorizerSummary, error)
}

// Counts reads the counts of component id (the leader's, written by its
// keeper); nil when none are written yet or the Store keeps none.
func (rt *Routes) Counts(ctx context.Context, id string) *Counts {
	sr, ok := rt.store.(AuthorizerSummaryReader)
	if !ok {
		return nil
	}
	s, err := sr.AuthorizerSummary(ctx, id)
	if err != nil {
		return nil
	}
	c := &Counts{Total: s.Total, Valid: s.Valid, Failing: s.Failing, NeedsReauthorization: s.NeedsReauthorization}
	if !s.UpdatedAt.IsZero() && s.UpdatedAt.UnixMilli() != 0 { // as status's other times
		t := s.UpdatedAt.UTC()
		c.UpdatedAt = &t
	}
	return c
}
