package refresher

import (
	"context"
	"errors"
	"time"

	"github.com/tokend/tokend/refresher/internal/writer"
	"github.com/tokend/tokend/store"
)

// writeFetched writes w (package writer: bounded retries of its ticket).
func (r *Refresher) writeFetched(ctx context.Context, w store.Write) (store.WriteResult, error) {
	return writer.Write(ctx, r.cfg.Store, r.cfg.Clock, w)
}

// writePending writes a fetched token whose earlier write failed, with its
// own ticket, instead of fetching again.
func (r *Refresher) writePending(ctx context.Context, app App, w store.Write, attempts int, now, redisNow time.Time) checkResult {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	res, err := r.writeFetched(wctx, w)
	switch {
	case err == nil:
		r.cfg.Logger.Info("refresher: kept token written", "app", app.ID, "version", res.Version, "fingerprint", Fingerprint(w.Token))
		return r.written1(wctx, app, w, res, now.Add(-redisNow.Sub(w.Ticket.IssuedAt)))
	case errors.Is(err, store.ErrStaleTicket) || errors.Is(err, store.ErrExpired) || errors.Is(err, store.ErrNotRolledOver):
		r.mem.Forget(app.ID, false)
		r.cfg.Logger.Warn("refresher: kept token dropped", "app", app.ID, "err", err)
		return checkResult{ID: app.ID, Next: now}
	}
	return r.failed(wctx, app, err, attempts, now, redisNow, false)
}

// rewrite writes this replica's last token of app again, with its own
// ticket: Redis lost it (failover) and holds an older token the upstream
// has retired. No upstream call is made. A rewrite Redis refuses as
// expired is forgotten.
func (r *Refresher) rewrite(ctx context.Context, app App, w store.Write, attempts int, now, redisNow time.Time) checkResult {
	_, err := r.cfg.Store.WriteToken(ctx, w) // unacknowledged: on the master, like any write
	switch {
	case errors.Is(err, store.ErrExpired) || errors.Is(err, store.ErrNotRolledOver):
		r.mem.Forget(app.ID, true)
	case err != nil && !errors.Is(err, store.ErrStaleTicket):
		return r.failed(ctx, app, err, attempts, now, redisNow, false)
	}
	r.cfg.Logger.Warn("refresher: Redis had lost the newest token, wrote it again", "app", app.ID,
		"ticket", w.Ticket.N, "fingerprint", Fingerprint(w.Token), "err", err)
	return checkResult{ID: app.ID, Next: now} // re-check at once against the rewritten record
}
