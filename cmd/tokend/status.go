package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tokend/tokend/refresher"
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
	LastErrorCode int        `json:"last_error_code,omitempty"`
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
func (a *api) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	ans := statusAnswer{Replica: a.replica, Apps: make([]appStatus, 0, len(a.apps))}
	epoch, leading := a.leader.Leading()
	ans.Leader = leading
	l, err := a.store.Leader(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "redis unavailable")
		return
	}
	if l.Held {
		ans.LeaderID, ans.Epoch = l.ID, l.Epoch
	}
	if leading {
		ans.LeaderID, ans.Epoch = a.replica, epoch
	}
	for _, app := range a.apps {
		st, err := a.appStatus(ctx, app)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "redis unavailable")
			return
		}
		ans.Apps = append(ans.Apps, st)
	}
	writeJSON(w, http.StatusOK, ans)
}

func (a *api) appStatus(ctx context.Context, app AppConfig) (appStatus, error) {
	out := appStatus{ID: app.ID, Provider: app.Provider}
	rec, err := a.store.Record(ctx, app.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	if err == nil {
		out.Valid, out.Version = rec.Valid(), rec.Version
		out.ExpiresAt, out.FetchedAt = timePtr(rec.ExpiresAt), timePtr(rec.FetchedAt)
		if rec.Valid() {
			out.Fingerprint = refresher.Fingerprint(rec.Token)
		}
	}
	st, err := a.store.Status(ctx, app.ID)
	if err != nil {
		return out, err
	}
	out.NextRefresh, out.LastError, out.LastErrorCode, out.BudgetUsed = timePtr(st.NextRefresh), st.LastError, st.LastErrorCode, st.BudgetUsed
	return out, nil
}
