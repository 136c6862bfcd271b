package refresher

import (
	"context"
	"errors"
	"time"

	"github.com/tokend/tokend/refresher/internal/plan"
	"github.com/tokend/tokend/store"
)

// parentFor reads a ticket's parent record right before the ticket's
// fetch. It returns the record when the ticket may be fetched with its
// token (plan.Parent); otherwise the check's result: wait for the parent,
// which is checked at once. While the parent still holds a token the
// upstream rejected, the report of it is filed again (idempotent), so a
// report lost with a Redis error does not park the ticket.
func (r *Refresher) parentFor(ctx context.Context, app App, attempts int, now, redisNow time.Time) (store.Record, checkResult, bool) {
	parent, err := r.cfg.Store.Record(ctx, app.Parent)
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrCorrupt) {
		return parent, r.failed(ctx, app, err, attempts, now, redisNow, false), false
	}
	rej := r.mem.Rejected(app.ID)
	if _, ok := plan.Parent(parent, rej); ok {
		return parent, checkResult{}, true
	}
	if rej.Token != "" && parent.Valid() && parent.Token == rej.Token {
		r.fileReport(ctx, app, app.Parent, rej.Token)
	}
	return parent, r.waitForParent(ctx, app, now), false
}

// parentRejected handles a ticket fetch the upstream refused for the
// parent token it was made with: a report of that token, filed exactly
// like a business app's (compare-and-refresh of the parent; its cooldown
// and budget apply, the ticket's are not touched), and the parent is
// checked at once. The ticket is fetched again once the parent's stored
// token changed (its token event wakes the ticket), with no backoff.
func (r *Refresher) parentRejected(ctx context.Context, app App, parent store.Record, err error, now time.Time) checkResult {
	r.mem.SetRejected(app.ID, plan.Rejected{Token: parent.Token, Ticket: parent.Ticket})
	r.fileReport(ctx, app, app.Parent, parent.Token)
	code, class := upstreamCode(err)
	r.logs.Warn(warnLevel, "upstream:"+app.ID, "refresher: the upstream rejected the parent token; reported it",
		"app", app.ID, "parent", app.Parent, "fingerprint", Fingerprint(parent.Token), "err", err)
	r.updateState(app.ID, func(s *AppState) { s.LastError, s.LastErrorCode, s.LastErrorClass = err.Error(), code, class })
	return r.waitForParent(ctx, app, now)
}

// fileReport reports token of target (app itself or its parent) as
// rejected, through the store's report path, as a business app would.
// Bounded by writeTimeout, also after leadership ended: the report
// outlives the term, like a business app's. A failure is logged; the
// next check or probe files it again.
func (r *Refresher) fileReport(ctx context.Context, app App, target, token string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := r.cfg.Store.Report(rctx, target, token); err != nil {
		r.logs.Warn(errorLevel, "report:"+app.ID, "refresher: report of a rejected token failed; filed again at the next check",
			"app", app.ID, "reported", target, "err", err)
		return
	}
	r.logs.OK("report:"+app.ID, "refresher: reports filed again", "app", app.ID)
}

// waitForParent schedules a ticket that has no usable parent token: woken
// by the parent's token event, or else after ReportPoll.
func (r *Refresher) waitForParent(ctx context.Context, app App, now time.Time) checkResult {
	res := r.scheduled(ctx, app, now.Add(r.cfg.ReportPoll), waiting{state: waitParent, what: app.Parent})
	res.WaitParent, res.Wake = true, app.Parent
	return res
}
