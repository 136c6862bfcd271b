package refresher

import (
	"context"
	"errors"
	"time"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/internal/board"
	"github.com/tokend/tokend/refresher/internal/memo"
	"github.com/tokend/tokend/refresher/internal/plan"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

// writeTimeout bounds the write of a fetched token (all its attempts),
// which runs even after the check's own context ended.
const writeTimeout = 5 * time.Second

// checkResult is a check's outcome, for the leader's board.
type checkResult = board.Result

// check looks at one app and fetches if it must: no valid token, due, or a
// report of the current token past the cooldown. A fetched token whose
// write failed is written first, before any new fetch. hint says a report
// may be pending (an event or the poll saw one). It returns when to look
// again.
func (r *Refresher) check(ctx context.Context, term lock.Term, app App, attempts int, hint bool) checkResult {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	now := r.cfg.Clock.Now()
	rec, err := r.cfg.Store.Record(ctx, app.ID)
	if errors.Is(err, store.ErrCorrupt) {
		// Garbage in the record: rebuild it from a live token key with no
		// upstream call; with no live token, fetch as when none exists (the
		// write replaces the record and cannot fail on the garbage).
		r.reportCorrupt(app.ID, err)
		rec, err = r.cfg.Store.RepairRecord(ctx, app.ID, term.Value)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return r.failed(ctx, app, err, attempts, now, rec.Now, false)
	}
	r.logs.OK("store", "refresher: Redis answers again")
	if rec.Valid() {
		r.mem.SetKeyUntil(app.ID, now.Add(rec.TTL))
	} else {
		r.mem.SetKeyUntil(app.ID, time.Time{})
	}
	if w, ok := r.mem.Pending(rec); ok {
		return r.writePending(ctx, app, w, attempts, now, rec.Now)
	}
	if w, ok := r.mem.Lost(rec); ok {
		return r.rewrite(ctx, app, w, attempts, now, rec.Now)
	}
	due, rollover := r.dueAt(rec, now)
	reported := ""
	if hint || due.Compare(now) <= 0 {
		if reported, err = r.cfg.Store.PendingReport(ctx, app.ID); err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				return r.failed(ctx, app, err, attempts, now, rec.Now, false)
			}
			// A broken reports key must not stop this app's refreshes.
			r.logs.Warn(errorLevel, "reports-corrupt", "refresher: pending reports unreadable, ignoring them", "err", err)
			reported = ""
		}
	}
	d := plan.Decide(plan.Check{Rec: rec, Reported: reported, Now: now, Due: due, Cooldown: r.cfg.Cooldown})
	if d.ClearStale {
		_, _ = r.cfg.Store.ClearReport(ctx, app.ID, reported)
	}
	if d.Outcome != "" {
		r.cfg.Observer.Report(app.ID, d.Outcome)
	}
	if !d.Fetch {
		res := r.scheduled(ctx, app, d.Next, waitIf(rollover, waitRollover, ""))
		res.CooldownUntil = d.CooldownUntil
		return res
	}
	if res, wait := r.gated(ctx, app, attempts, now, rec.Now); wait {
		return res
	}
	call := fetchCall{req: upstream.FetchRequest{Invalid: d.Passive}, stored: rec}
	if app.Parent != "" {
		parent, res, ok := r.parentFor(ctx, app, attempts, now, rec.Now)
		if !ok {
			return res
		}
		call.parent, call.req.ParentToken = parent, parent.Token
	}
	return r.fetch(ctx, term, app, call, attempts, now, rec.Now)
}

// fetchCall is one upstream call: its request, the credential's own
// record as the check read it, and, for a ticket, the parent's record its
// token came from.
type fetchCall struct {
	req            upstream.FetchRequest
	stored, parent store.Record
}

// fetch takes a ticket, calls the upstream and writes the token. Once the
// ticket is taken the upstream call is not cancelled by the end of
// leadership or by shutdown (bounded by FetchTimeout): an answered request
// may have retired the previous token, so its token must reach Redis.
func (r *Refresher) fetch(ctx context.Context, term lock.Term, app App, call fetchCall, attempts int, now, redisNow time.Time) checkResult {
	log := r.cfg.Logger.With("app", app.ID)
	tk, err := r.takeTicket(ctx, term, app)
	if err == nil && !tk.Acked {
		// Taken on the master: tickets still grow after a failover (TIME).
		log.Warn("refresher: ticket not acknowledged by enough replicas")
	}
	if errors.Is(err, store.ErrNotLeader) {
		log.Warn("refresher: lease lost, not fetching")
		return checkResult{ID: app.ID, Next: now.Add(r.cfg.ReportPoll)}
	}
	if !tk.IssuedAt.IsZero() {
		redisNow = tk.IssuedAt
	}
	if err != nil {
		return r.failed(ctx, app, err, attempts, now, redisNow, false)
	}
	start := r.cfg.Clock.Now()
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.FetchTimeout)
	tok, err := app.Provider.Fetch(fctx, call.req)
	fcancel()
	took := r.cfg.Clock.Since(start)
	r.updateState(app.ID, func(s *AppState) { s.Fetches++; s.LastFetch = start; s.BudgetUsed = tk.BudgetUsed })
	if err == nil && (tok.Value == "" || tok.ExpiresIn <= 0) {
		err = &upstream.Error{Message: "provider returned an empty token", Class: upstream.ClassRetry}
	}
	if err != nil {
		code, class := upstreamCode(err)
		r.cfg.Observer.Fetched(app.ID, class, code, took)
		if upstream.ClassOf(err) == upstream.ClassInput {
			return r.inputRefused(ctx, app, err, now)
		}
		if app.Parent != "" && upstream.ClassOf(err) == upstream.ClassTokenRejected {
			return r.parentRejected(ctx, app, call.parent, err, now)
		}
		if app.Repeat != upstream.RepeatNew && upstream.IsShortLife(err) && call.stored.Version > 0 {
			return r.shortRepeat(ctx, app, call.stored, now)
		}
		return r.failed(ctx, app, err, attempts, now, redisNow, true)
	}
	r.cfg.Observer.Fetched(app.ID, "ok", 0, took)
	r.logs.OK("upstream:"+app.ID, "refresher: upstream answers again", "app", app.ID)
	w := store.Write{
		App: app.ID, Ticket: tk, Token: tok.Value, ExpiresIn: tok.ExpiresIn, SafetyMargin: r.keyMargin(app, tok.ExpiresIn),
		SameValue: sameValueRule(app.Repeat), Epoch: term.Epoch, Leader: term.ID,
	}
	// Written even if leadership ended meanwhile: the ticket decides.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer wcancel()
	res, err := r.writeFetched(wctx, w)
	switch {
	case errors.Is(err, store.ErrNotRolledOver):
		return r.notRolledOver(ctx, app, now)
	case errors.Is(err, store.ErrStaleTicket):
		// A newer fetch already won; its token is the live one.
		r.cfg.Observer.RejectedWrite(app.ID)
		log.Warn("refresher: write rejected, a newer token is stored", "ticket", tk.N)
		return r.scheduled(ctx, app, now.Add(r.cfg.RetryMin), waiting{})
	case err != nil && !errors.Is(err, store.ErrExpired):
		// Kept, and written before any new fetch of the app.
		r.mem.SetPending(w)
		log.Error("refresher: a fetched token could not be written yet; it is kept and written before any new fetch",
			"err", err, "fingerprint", Fingerprint(tok.Value))
		return r.failed(wctx, app, err, attempts, now, redisNow, false)
	case err != nil:
		return r.failed(wctx, app, err, attempts, now, redisNow, false)
	}
	r.mem.SetRejected(app.ID, plan.Rejected{})
	r.logs.OK("rollover:"+app.ID, "refresher: the upstream rolled over to a new value", "app", app.ID)
	if call.req.Invalid != "" {
		_, _ = r.cfg.Store.ClearReport(wctx, app.ID, call.req.Invalid)
		r.cfg.Observer.Report(app.ID, map[bool]string{true: "refreshed", false: "unchanged"}[res.Changed])
	}
	log.Info("refresher: token refreshed", "version", res.Version, "fingerprint", Fingerprint(tok.Value),
		"expires_in", tok.ExpiresIn, "new", res.Changed, "passive", call.req.Invalid != "", "took", took)
	return r.written1(wctx, app, w, res, start)
}

// takeTicket takes app's fetch ticket, with its windowed budgets if any.
func (r *Refresher) takeTicket(ctx context.Context, term lock.Term, app App) (store.Ticket, error) {
	if len(app.Budgets) == 0 {
		return r.cfg.Store.TakeTicket(ctx, app.ID, term.Value, r.cfg.DailyBudget)
	}
	return r.cfg.Store.TakeTicketBudgets(ctx, app.ID, term.Value, r.cfg.DailyBudget, app.Budgets)
}

// keyMargin is how long before its expiry a value's token key expires.
// For an upstream that issues a new value per fetch it is SafetyMargin
// (at most 10% of the lifetime): the next value is fetched long before,
// so the margin only keeps readers off a value about to die.
//
// For an upstream that answers the same value until it expires (App.Repeat
// not RepeatNew) it is zero. Such a value cannot be replaced before its
// expiry, so every millisecond of margin is a gap readers see at each
// rollover. And zero is safe: the expiry is counted from when the first
// fetch was sent (Redis TIME at its ticket), never after the upstream
// issued the value, so when tokend is the only caller the key never
// outlives the value. The gap is then the time from the expiry to the
// first ask that gets the new value: plan.Pace asks at the expiry and then
// every RetryMin, so at most one RetryMin plus one fetch.
func (r *Refresher) keyMargin(app App, expiresIn time.Duration) time.Duration {
	if app.Repeat != upstream.RepeatNew {
		return 0
	}
	return min(r.cfg.SafetyMargin, expiresIn/10)
}

// sameValueRule is the store's write rule for an upstream's Repeat.
func sameValueRule(rep upstream.Repeat) store.SameValue {
	switch rep {
	case upstream.RepeatSameTrusted:
		return store.SameValueKeepLater
	case upstream.RepeatSameFirstSeen:
		return store.SameValueKeepStored
	}
	return store.SameValueAsNew
}

// written1 records an accepted write of w (res), sent at start (local
// clock), and schedules the app's next check from the effective expiry.
func (r *Refresher) written1(ctx context.Context, app App, w store.Write, res store.WriteResult, start time.Time) checkResult {
	// Remembered as written, with the effective expiry: a rewrite after a
	// failover restores exactly what Redis lost.
	if !res.Acked {
		// Written on the master; fetching again would retire this token.
		r.cfg.Logger.Warn("refresher: token write not acknowledged by enough replicas", "app", app.ID)
	}
	eff := w
	eff.ExpiresIn, eff.SameValue = res.ExpiresAt.Sub(w.Ticket.IssuedAt), store.SameValueAsNew
	r.mem.SetWritten(eff)
	r.cfg.Observer.Written(app.ID, res.ExpiresAt, w.Ticket.BudgetUsed)
	if o, ok := r.cfg.Observer.(TokenObserver); ok {
		o.WrittenToken(app.ID, Fingerprint(w.Token), res.Version)
	}
	expires := start.Add(eff.ExpiresIn) // local clock
	r.mem.SetKeyUntil(app.ID, expires.Add(-w.SafetyMargin))
	now := r.cfg.Clock.Now()
	next, rollover := plan.AfterWrite(now, expires, res.ExpiresAt.Sub(res.FetchedAt), r.cfg.BeforeExpiry, r.cfg.RetryMin)
	r.mem.SetPlan(app.ID, memo.Plan{Version: res.Version, Ticket: w.Ticket.N, Due: next, Rollover: rollover})
	r.updateState(app.ID, func(s *AppState) {
		s.LastError, s.LastErrorCode, s.LastErrorClass, s.ExpiresAt = "", 0, "", res.ExpiresAt
	})
	return r.scheduled(ctx, app, next, waitIf(rollover, waitRollover, ""))
}

// shortRepeat: an upstream that answers the same value until it expires
// answered one whose remaining life is below MinExpiresIn after a value
// was stored (its key may have just expired: the meta hash remains): the
// stored value near or at its end (WeCom answers its true remaining life).
// Before anything was ever stored, a short life stays an error, so a
// min_expires_in above the upstream's lifetime shows in status. Not a failure and nothing is written; asked again halfway to the
// stored expiry (at least RetryMin apart), then every RetryMin, like any
// rollover.
func (r *Refresher) shortRepeat(ctx context.Context, app App, stored store.Record, now time.Time) checkResult {
	expires := now.Add(stored.ExpiresAt.Sub(stored.Now)) // local clock
	r.logs.Warn(infoLevel, "rollover:"+app.ID, "refresher: the upstream answers a value near its end; waiting for the rollover",
		"app", app.ID)
	res := r.scheduled(ctx, app, plan.Pace(now, expires, r.cfg.RetryMin), waiting{state: waitRollover})
	res.Hold = true
	return res
}

// notRolledOver: the upstream answered the stored value past its kept
// expiry. Not a failure: the next value comes only now; asked again every
// RetryMin (no backoff growth), and nothing else wakes the app earlier.
func (r *Refresher) notRolledOver(ctx context.Context, app App, now time.Time) checkResult {
	r.mem.SetKeyUntil(app.ID, time.Time{})
	r.logs.Warn(infoLevel, "rollover:"+app.ID, "refresher: the upstream still answers the expired value; asking again",
		"app", app.ID, "every", r.cfg.RetryMin)
	res := r.scheduled(ctx, app, plan.Pace(now, now, r.cfg.RetryMin), waiting{state: waitRollover})
	res.Hold = true
	return res
}
