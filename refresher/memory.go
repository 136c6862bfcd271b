package refresher

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tokend/tokend/store"
)

// What the refresher remembers per app between checks. Every helper takes
// r.mu.

func (r *Refresher) setWritten(w store.Write) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.written[w.App] = w
	delete(r.pending, w.App)
}

// lostWrite returns this replica's last write of app when Redis holds an
// older one (lower ticket): a failover dropped it. The upstream has retired
// the older token, so the newer one must be written again, while it lives.
func (r *Refresher) lostWrite(rec store.Record) (store.Write, bool) {
	r.mu.Lock()
	w, ok := r.written[rec.App]
	r.mu.Unlock()
	if !ok || rec.Version == 0 || rec.Ticket >= w.Ticket.N {
		return store.Write{}, false
	}
	return w, writeValid(w, rec.Now)
}

// writeValid: w's token would still be written with a positive TTL at now
// (Redis's clock).
func writeValid(w store.Write, now time.Time) bool {
	return w.Ticket.IssuedAt.Add(w.ExpiresIn - w.SafetyMargin).After(now)
}

func (r *Refresher) setPending(w store.Write) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending[w.App] = w
}

// pendingWrite returns app's fetched-but-unwritten token if it must be
// written before anything else: still valid and newer than the stored one.
// A pending token that Redis already holds (the write was applied but its
// answer lost) becomes the written one; a superseded or expired one is
// dropped.
func (r *Refresher) pendingWrite(rec store.Record) (store.Write, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.pending[rec.App]
	switch {
	case !ok:
		return store.Write{}, false
	case rec.Ticket == w.Ticket.N:
		r.written[w.App] = w
		delete(r.pending, w.App)
		return store.Write{}, false
	case rec.Ticket > w.Ticket.N || !writeValid(w, rec.Now):
		delete(r.pending, w.App)
		return store.Write{}, false
	}
	return w, true
}

// dueAt is when app's stored token is due (local clock). The time picked
// for a stored version is kept until the version changes, so re-checks do
// not re-roll the jitter (nor rewrite the status).
func (r *Refresher) dueAt(rec store.Record, now time.Time) time.Time {
	if !rec.Valid() {
		return now
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.plans[rec.App]; ok && p.version == rec.Version && p.ticket == rec.Ticket {
		return p.due
	}
	due := now.Add(r.dueIn(rec.ExpiresAt.Sub(rec.Now), rec.ExpiresAt.Sub(rec.FetchedAt)))
	r.plans[rec.App] = plan{version: rec.Version, ticket: rec.Ticket, due: due}
	return due
}

func (r *Refresher) setPlan(app string, version, ticket int64, due time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.plans[app] = plan{version: version, ticket: ticket, due: due}
}

// setKeyUntil notes until when app's token key should exist (zero: not).
func (r *Refresher) setKeyUntil(app string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if until.IsZero() {
		delete(r.keyUntil, app)
		return
	}
	r.keyUntil[app] = until
}

func (r *Refresher) keyDeadline(app string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keyUntil[app]
}

// statusChanged reports whether st differs from the last status written
// for its app.
func (r *Refresher) statusChanged(app string, st store.Status) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, ok := r.published[app]
	return !ok || prev != st
}

func (r *Refresher) setPublished(app string, st store.Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published[app] = st
}

// reportCorrupt logs a corrupt key of app once per change of the error
// (the store's Config.OnCorrupt counts every finding). It returns whether
// the store repaired it.
func (r *Refresher) reportCorrupt(app string, err error) (repaired bool) {
	var ce *store.CorruptError
	repaired = errors.As(err, &ce) && ce.Repaired
	msg := err.Error()
	r.mu.Lock()
	same := r.corrupt[app] == msg
	r.corrupt[app] = msg
	r.mu.Unlock()
	if same {
		return repaired
	}
	level, what := slog.LevelError, "refresher: corrupt key in Redis; no upstream call is made because of it"
	if repaired {
		level, what = slog.LevelWarn, "refresher: corrupt key in Redis was repaired by the store"
	}
	r.cfg.Logger.Log(context.Background(), level, what, "app", app, "err", err)
	return repaired
}

// clearCorrupt forgets app's corrupt-key report after a clean check.
func (r *Refresher) clearCorrupt(app string) {
	r.mu.Lock()
	prev, ok := r.corrupt[app]
	delete(r.corrupt, app)
	r.mu.Unlock()
	if ok {
		r.cfg.Logger.Info("refresher: no corrupt key any more", "app", app, "was", prev)
	}
}
