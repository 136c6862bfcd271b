package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"
	"github.com/tokend/tokend/cmd/tokend/internal/errcodes"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/fleet"
)

// replicaStatus is one entry of status "replicas": the registry as read,
// stale when not rewritten for fleet.ReplicaStale (killed, cut off),
// corrupt when the entry is not tokend's JSON.
type replicaStatus struct {
	ID      string     `json:"id"`
	Seen    *time.Time `json:"seen"`
	Leader  bool       `json:"leader"`
	Version string     `json:"version"`
	Listen  string     `json:"listen"`
	Stale   bool       `json:"stale"`
	Corrupt bool       `json:"corrupt,omitempty"`
}

// replicas reads the registry for status; an error becomes the answer's
// replicas_error, never a failed status.
func (a *Server) replicas(ctx context.Context) ([]replicaStatus, string) {
	list, err := a.fleet.Replicas(ctx)
	out := make([]replicaStatus, 0, len(list))
	for _, r := range list {
		out = append(out, replicaStatus{ID: r.ID, Seen: timePtr(r.Seen), Leader: r.Leader, Version: r.Version,
			Listen: r.Listen, Stale: r.Stale, Corrupt: r.Corrupt})
	}
	if err != nil {
		a.warnRepeated(ctx, "api: read replica registry failed", "key", "replicas", "err", err)
		return out, "replica registry unreadable: " + err.Error()
	}
	return out, ""
}

// auditEntry is one entry of GET /v1/audit: never a token, only its
// fingerprint.
type auditEntry struct {
	ID          string     `json:"id"`
	Time        *time.Time `json:"time"`
	Replica     string     `json:"replica"`
	Client      string     `json:"client,omitempty"`
	App         string     `json:"app"`
	Action      string     `json:"action"`
	Outcome     string     `json:"outcome"`
	Errcode     int        `json:"errcode"`
	ErrorHelp   string     `json:"error_help,omitempty"` // the errcode's guide entry
	Fingerprint string     `json:"token_fingerprint,omitempty"`
	Detail      string     `json:"detail,omitempty"`
}

// maxAuditLimit caps GET /v1/audit?limit=.
const maxAuditLimit = 500

// audit answers GET /v1/audit?limit=N (default 50, 1..500): the newest
// entries of the audit stream, newest first; to a client, only those of
// the apps it may see and those of no app (leadership), so it may get
// fewer than limit.
func (a *Server) audit(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditLimit {
			writeError(w, http.StatusBadRequest, "limit: want an integer from 1 to 500")
			return
		}
		limit = n
	}
	out, note, err := a.recentAudit(r.Context(), limit)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "audit stream unreadable")
		return
	}
	if note != "" {
		// A broken key is named, and the console goes on.
		writeJSON(w, http.StatusOK, map[string]any{"entries": out, "error": note})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out})
}

// recentAudit reads the newest limit audit entries; to a client (ctx),
// only those it may see. A corrupt stream is no error: note names it and
// the list is empty.
func (a *Server) recentAudit(ctx context.Context, limit int) (out []auditEntry, note string, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := a.fleet.RecentAudit(ctx, limit)
	if errors.Is(err, store.ErrCorrupt) {
		return []auditEntry{}, err.Error(), nil
	}
	if err != nil {
		a.warnRepeated(ctx, "api: read audit stream failed", "key", "audit", "err", err)
		return nil, "", err
	}
	out = make([]auditEntry, 0, len(list))
	for _, e := range list {
		if !a.visible(ctx, e.App) || !a.visibleDecision(ctx, e) {
			continue
		}
		out = append(out, auditEntry{ID: e.ID, Time: timePtr(e.Time), Replica: e.Replica, Client: e.Client, App: e.App,
			Action: e.Action, Outcome: e.Outcome, Errcode: e.Errcode, Fingerprint: e.Fingerprint, Detail: e.Detail,
			ErrorHelp: errcodes.Help(a.providerOf(e.App), e.Errcode)})
	}
	return out, "", nil
}

// providerOf is the provider of credential id cred ("mp-main",
// "mp-main:jsapi", "<component>/<appid>"): its app's, "" when unknown.
func (a *Server) providerOf(cred string) string {
	if i := strings.IndexAny(cred, ":/"); i >= 0 {
		cred = cred[:i]
	}
	return a.byID[cred].Provider
}

// visibleDecision hides from a named client the client decisions that
// name no app (a key no client holds, an unknown app): they carry other
// clients' names, sources and key fingerprints. The shared list sees them.
func (a *Server) visibleDecision(ctx context.Context, e fleet.AuditEntry) bool {
	viewer := clientOf(ctx)
	return viewer == "" || viewer == clients.SharedName || e.App != "" || e.Client == viewer || !clients.ValidAction(e.Action)
}
