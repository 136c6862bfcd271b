package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tokend/tokend/store"
)

type appStatus struct {
	ID            string     `json:"id"`
	Provider      string     `json:"provider"`
	Valid         bool       `json:"valid"`
	Fingerprint   string     `json:"token_fingerprint,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at"`
	FetchedAt     *time.Time `json:"fetched_at"`
	Version       int64      `json:"version"`
	NextRefresh   *time.Time `json:"next_refresh"`
	LastError     string     `json:"last_error"`
	LastErrorCode int        `json:"last_error_code"`
	BudgetUsed    int        `json:"budget_used"`
}

type statusAnswer struct {
	Replica  string      `json:"replica"`
	Leader   bool        `json:"leader"`
	LeaderID string      `json:"leader_id"`
	Epoch    int64       `json:"epoch"`
	Apps     []appStatus `json:"apps"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() || t.UnixMilli() == 0 {
		return nil
	}
	t = t.UTC()
	return &t
}

// status answers what this replica and Redis know: no tokens, no secrets.
// Concurrent requests share one computation, and the per-app reads run a
// few at a time, so the route cannot multiply the load on Redis.
func (a *Server) status(w http.ResponseWriter, r *http.Request) {
	v, err, _ := a.statusFlight.Do("status", func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		return a.buildStatus(ctx)
	})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "redis unavailable")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *Server) buildStatus(ctx context.Context) (statusAnswer, error) {
	ans := statusAnswer{Replica: a.replica, Apps: make([]appStatus, len(a.apps))}
	epoch, leading := a.leader.Leading()
	ans.Leader = leading
	l, err := a.store.Leader(ctx)
	if err != nil {
		return ans, err
	}
	if l.Held {
		ans.LeaderID, ans.Epoch = l.ID, l.Epoch
	}
	if leading {
		ans.LeaderID, ans.Epoch = a.replica, epoch
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, app := range a.apps {
		g.Go(func() error {
			st, err := a.appStatus(gctx, app)
			ans.Apps[i] = st
			return err
		})
	}
	return ans, g.Wait()
}

func (a *Server) appStatus(ctx context.Context, app App) (appStatus, error) {
	out := appStatus{ID: app.ID, Provider: app.Provider}
	rec, err := a.store.Record(ctx, app.ID)
	if errors.Is(err, store.ErrCorrupt) {
		// One app's broken keys never fail the whole status: the entry says
		// what is wrong (the key's name, never its value).
		out.LastError = err.Error()
		return out, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	if err == nil {
		out.Valid, out.Version = rec.Valid(), rec.Version
		out.ExpiresAt, out.FetchedAt = timePtr(rec.ExpiresAt), timePtr(rec.FetchedAt)
		if rec.Valid() {
			out.Fingerprint = store.Fingerprint(rec.Token)
		}
	}
	st, err := a.store.Status(ctx, app.ID)
	if errors.Is(err, store.ErrCorrupt) {
		out.LastError = err.Error()
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.NextRefresh, out.LastError, out.LastErrorCode, out.BudgetUsed = timePtr(st.NextRefresh), st.LastError, st.LastErrorCode, st.BudgetUsed
	return out, nil
}
