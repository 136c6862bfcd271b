package refresher

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tokend/tokend/refresher/internal/memo"
	"github.com/tokend/tokend/refresher/internal/plan"
	"github.com/tokend/tokend/store"
)

// dueAt is when app's stored value is due (local clock), and whether it is
// paced (a rollover). The time picked for a stored version is kept until
// the version changes, so re-checks do not re-roll the jitter (nor rewrite
// the status).
func (r *Refresher) dueAt(rec store.Record, now time.Time) (time.Time, bool) {
	if !rec.Valid() {
		return now, false
	}
	if p, ok := r.mem.Plan(rec); ok {
		return p.Due, p.Rollover
	}
	due := now.Add(plan.DueIn(rec.ExpiresAt.Sub(rec.Now), rec.ExpiresAt.Sub(rec.FetchedAt), r.cfg.BeforeExpiry))
	r.mem.SetPlan(rec.App, memo.Plan{Version: rec.Version, Ticket: rec.Ticket, Due: due})
	return due, false
}

// reportCorrupt logs a corrupt key of app once per change of the error
// (the store's Config.OnCorrupt counts every finding). It returns whether
// the store repaired it.
func (r *Refresher) reportCorrupt(app string, err error) (repaired bool) {
	var ce *store.CorruptError
	repaired = errors.As(err, &ce) && ce.Repaired
	if r.mem.SetCorrupt(app, err.Error()) == err.Error() {
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
	if prev := r.mem.SetCorrupt(app, ""); prev != "" {
		r.cfg.Logger.Info("refresher: no corrupt key any more", "app", app, "was", prev)
	}
}
