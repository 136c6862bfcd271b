package httpapi

import (
	"context"
	"net/http"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"
	"github.com/tokend/tokend/cmd/tokend/internal/console"
)

// consoleSource is the console's view of the API (package console): the
// status and audit answers, as the request's client sees them.
type consoleSource struct{ a *Server }

// Authorize says whether the page may carry status data: the check of
// /v1/status, asked only when the request can pass it (no key configured,
// or one sent), so that a page load without a key is no denied request.
func (s consoleSource) Authorize(r *http.Request) (context.Context, bool) {
	a := s.a
	if a.clients != nil && !a.clients.Empty() && r.Header.Get("Authorization") == "" {
		return nil, false
	}
	var ctx context.Context
	a.auth(func(_ http.ResponseWriter, ar *http.Request) { ctx = ar.Context() }, clients.Status)(discardWriter{}, r)
	return ctx, ctx != nil
}

// discardWriter is a ResponseWriter that drops the answer (Authorize).
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

func (s consoleSource) Status(ctx context.Context) (console.Status, error) {
	st, err := s.a.sharedStatus(ctx)
	if err != nil {
		return console.Status{}, err
	}
	st = s.a.visibleStatus(ctx, st)
	out := console.Status{LeaderID: st.LeaderID, ReplicasError: st.ReplicasError}
	for _, r := range st.Replicas {
		out.Replicas = append(out.Replicas, console.Replica{ID: r.ID, Version: r.Version, Listen: r.Listen, Seen: r.Seen, Stale: r.Stale, Corrupt: r.Corrupt})
	}
	for _, c := range st.Apps {
		out.Creds = append(out.Creds, console.Cred{
			ID: c.ID, Provider: c.Provider, Kind: c.Kind, Parent: c.Parent, Valid: c.Valid, Fingerprint: c.Fingerprint,
			ExpiresAt: c.ExpiresAt, FetchedAt: c.FetchedAt, Version: c.Version, NextRefresh: c.NextRefresh,
			LastError: c.LastError, LastErrorCode: c.LastErrorCode, BudgetUsed: c.BudgetUsed,
			Waiting: c.Waiting, WaitingFor: c.WaitingFor, WaitUntil: c.WaitUntil,
		})
	}
	return out, nil
}

func (s consoleSource) Audit(ctx context.Context, limit int) ([]console.Event, string, error) {
	list, note, err := s.a.recentAudit(ctx, limit)
	out := make([]console.Event, 0, len(list))
	for _, e := range list {
		out = append(out, console.Event{ID: e.ID, Time: e.Time, Replica: e.Replica, App: e.App, Provider: s.a.providerOf(e.App),
			Action: e.Action, Outcome: e.Outcome, Fingerprint: e.Fingerprint, Detail: e.Detail, Errcode: e.Errcode})
	}
	return out, note, err
}
