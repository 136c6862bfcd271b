package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tokend/tokend/cmd/tokend/internal/components"
	"github.com/tokend/tokend/cmd/tokend/internal/errcodes"
	"github.com/tokend/tokend/store"
)

// appStatus is one credential's entry: an app's token (kind "token") or
// one of its tickets (kind jsapi, wx_card, agent_config; parent the app).
type appStatus struct {
	ID            string     `json:"id"`
	Provider      string     `json:"provider"`
	Kind          string     `json:"kind"`
	Parent        string     `json:"parent,omitempty"`
	Valid         bool       `json:"valid"`
	Fingerprint   string     `json:"token_fingerprint,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at"`
	FetchedAt     *time.Time `json:"fetched_at"`
	Version       int64      `json:"version"`
	NextRefresh   *time.Time `json:"next_refresh"`
	LastError     string     `json:"last_error"`
	LastErrorCode int        `json:"last_error_code"`
	// ErrorHelp links the code to its entry in the errcode guide
	// ("/ui/errcodes#wechat-40164"); absent when there is none.
	ErrorHelp  string `json:"error_help,omitempty"`
	BudgetUsed int    `json:"budget_used"`
	// Waiting is what the credential waits for besides its due time
	// ("rollover", "parent", "budget"), WaitingFor the parent or the
	// budget, WaitUntil a budget's end; Probe the last probe's outcome.
	Waiting    string     `json:"waiting,omitempty"`
	WaitingFor string     `json:"waiting_for,omitempty"`
	WaitUntil  *time.Time `json:"wait_until,omitempty"`
	Probe      string     `json:"probe,omitempty"`
	// Authorizers counts a component's authorizers (package components).
	Authorizers *components.Counts `json:"authorizers,omitempty"`
}

type statusAnswer struct {
	Replica  string      `json:"replica"`
	Leader   bool        `json:"leader"`
	LeaderID string      `json:"leader_id"`
	Epoch    int64       `json:"epoch"`
	Apps     []appStatus `json:"apps"`
	// Replicas is the registry ({prefix}:replicas); ReplicasError says why
	// it could not be read (status answers anyway).
	Replicas      []replicaStatus `json:"replicas"`
	ReplicasError string          `json:"replicas_error,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() || t.UnixMilli() == 0 {
		return nil
	}
	t = t.UTC()
	return &t
}

// status answers what this replica and Redis know: no tokens, no secrets;
// to a client, only the credentials its apps globs match.
// Concurrent requests share one computation, and the per-app reads run a
// few at a time, so the route cannot multiply the load on Redis.
func (a *Server) status(w http.ResponseWriter, r *http.Request) {
	v, err := a.sharedStatus(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "redis unavailable")
		return
	}
	writeJSON(w, http.StatusOK, a.visibleStatus(r.Context(), v))
}

// sharedStatus is the status answer, computed once for concurrent callers
// (the route and the console page).
func (a *Server) sharedStatus(ctx context.Context) (statusAnswer, error) {
	v, err, _ := a.statusFlight.Do("status", func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return a.buildStatus(ctx)
	})
	st, _ := v.(statusAnswer)
	return st, err
}

func (a *Server) buildStatus(ctx context.Context) (statusAnswer, error) {
	creds := statusEntries(a.apps)
	ans := statusAnswer{Replica: a.replica, Apps: make([]appStatus, len(creds))}
	epoch, leading := a.leader.Leading()
	ans.Leader = leading
	l, err := a.fleet.Leader(ctx)
	if err != nil {
		return ans, err
	}
	if l.Held {
		ans.LeaderID, ans.Epoch = l.ID, l.Epoch
	}
	if leading {
		ans.LeaderID, ans.Epoch = a.replica, epoch
	}
	ans.Replicas, ans.ReplicasError = a.replicas(ctx)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, c := range creds {
		g.Go(func() error {
			st, err := a.appStatus(gctx, c)
			ans.Apps[i] = st
			return err
		})
	}
	return ans, g.Wait()
}

// statusEntries lists the credentials of apps in status order: each app's
// token, then its tickets. Only the identifying fields are set.
func statusEntries(apps []App) []appStatus {
	var out []appStatus
	for _, app := range apps {
		out = append(out, appStatus{ID: app.ID, Provider: app.Provider, Kind: "token"})
		for _, kind := range app.Tickets {
			out = append(out, appStatus{ID: app.ID + ":" + kind, Provider: app.Provider, Kind: kind, Parent: app.ID})
		}
	}
	return out
}

// appStatus fills entry out (statusEntries) from Redis: never a value,
// only its fingerprint.
func (a *Server) appStatus(ctx context.Context, out appStatus) (appStatus, error) {
	rec, err := a.store.Record(ctx, out.ID)
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
	st, err := a.store.Status(ctx, out.ID)
	if errors.Is(err, store.ErrCorrupt) {
		out.LastError = err.Error()
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.NextRefresh, out.LastError, out.LastErrorCode, out.BudgetUsed = timePtr(st.NextRefresh), st.LastError, st.LastErrorCode, st.BudgetUsed
	out.Waiting, out.WaitingFor, out.WaitUntil, out.Probe = st.Waiting, st.WaitingFor, timePtr(st.WaitUntil), st.Probe
	out.ErrorHelp = errcodes.Help(out.Provider, out.LastErrorCode)
	if out.Provider == ComponentProvider && out.Kind == "token" {
		out.Authorizers = a.components.Counts(ctx, out.ID)
	}
	return out, nil
}
