package refresher

import (
	"context"
	"errors"
	"time"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

// writeTimeout bounds the write of a fetched token (all its attempts),
// which runs even after the check's own context ended.
const writeTimeout = 5 * time.Second

// writeAttempts bounds the attempts of one write of a fetched token; the
// first retry waits writeRetryWait, then twice as long.
const (
	writeAttempts  = 3
	writeRetryWait = 100 * time.Millisecond
)

type checkResult struct {
	app       string
	next      time.Time
	transient bool // a transient failure: the backoff grows
	failed    bool // next is the error class's retry time
	// cooldownUntil is set when a pending report is held by the cooldown
	// until then (local clock): further reports need no Redis round trip.
	cooldownUntil time.Time
}

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
	r.logs.ok("store", "refresher: Redis answers again")
	if rec.Valid() {
		r.setKeyUntil(app.ID, now.Add(rec.TTL))
	} else {
		r.setKeyUntil(app.ID, time.Time{})
	}
	if w, ok := r.pendingWrite(rec); ok {
		return r.writePending(ctx, app, w, attempts, now, rec.Now)
	}
	if w, ok := r.lostWrite(rec); ok {
		return r.rewrite(ctx, app, w, attempts, now, rec.Now)
	}
	due := r.dueAt(rec, now)
	reported := ""
	if hint || due.Compare(now) <= 0 {
		if reported, err = r.cfg.Store.PendingReport(ctx, app.ID); err != nil {
			if !errors.Is(err, store.ErrCorrupt) {
				return r.failed(ctx, app, err, attempts, now, rec.Now, false)
			}
			// A broken reports key must not stop this app's refreshes.
			r.logs.warn(errorLevel, "reports-corrupt", "refresher: pending reports unreadable, ignoring them", "err", err)
			reported = ""
		}
	}
	d := decide(checkInput{rec: rec, reported: reported, now: now, due: due, cooldown: r.cfg.Cooldown})
	if d.clearStale {
		_, _ = r.cfg.Store.ClearReport(ctx, app.ID, reported)
	}
	if d.outcome != "" {
		r.cfg.Observer.Report(app.ID, d.outcome)
	}
	if d.fetch {
		return r.fetch(ctx, term, app, d.passive, attempts, now, rec.Now)
	}
	res := r.scheduled(ctx, app, d.next)
	res.cooldownUntil = d.cooldownUntil
	return res
}

// fetch takes a ticket, calls the upstream and writes the token. Once the
// ticket is taken the upstream call is not cancelled by the end of
// leadership or by shutdown (bounded by FetchTimeout): an answered request
// may have retired the previous token, so its token must reach Redis.
func (r *Refresher) fetch(ctx context.Context, term lock.Term, app App, reported string, attempts int, now, redisNow time.Time) checkResult {
	log := r.cfg.Logger.With("app", app.ID)
	tk, err := r.cfg.Store.TakeTicket(ctx, app.ID, term.Value, r.cfg.DailyBudget)
	if err == nil && !tk.Acked {
		// Taken on the master: tickets still grow after a failover (TIME).
		log.Warn("refresher: ticket not acknowledged by enough replicas")
	}
	if errors.Is(err, store.ErrNotLeader) {
		log.Warn("refresher: lease lost, not fetching")
		return checkResult{app: app.ID, next: now.Add(r.cfg.ReportPoll)}
	}
	if !tk.IssuedAt.IsZero() {
		redisNow = tk.IssuedAt
	}
	if err != nil {
		return r.failed(ctx, app, err, attempts, now, redisNow, false)
	}
	start := r.cfg.Clock.Now()
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.FetchTimeout)
	tok, err := app.Provider.Fetch(fctx, upstream.FetchRequest{Invalid: reported})
	fcancel()
	took := r.cfg.Clock.Since(start)
	r.updateState(app.ID, func(s *AppState) { s.Fetches++; s.LastFetch = start; s.BudgetUsed = tk.BudgetUsed })
	if err == nil && (tok.Value == "" || tok.ExpiresIn <= 0) {
		err = &upstream.Error{Message: "provider returned an empty token", Class: upstream.ClassRetry}
	}
	if err != nil {
		var ue *upstream.Error
		code := 0
		if errors.As(err, &ue) {
			code = ue.Code
		}
		r.cfg.Observer.Fetched(app.ID, upstream.ClassOf(err).String(), code, took)
		return r.failed(ctx, app, err, attempts, now, redisNow, true)
	}
	r.cfg.Observer.Fetched(app.ID, "ok", 0, took)
	r.logs.ok("upstream:"+app.ID, "refresher: upstream answers again", "app", app.ID)
	w := store.Write{
		App: app.ID, Ticket: tk, Token: tok.Value, ExpiresIn: tok.ExpiresIn,
		SafetyMargin: min(r.cfg.SafetyMargin, tok.ExpiresIn/10), Epoch: term.Epoch, Leader: term.ID,
	}
	// Written even if leadership ended meanwhile: the ticket decides.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer wcancel()
	version, err := r.writeFetched(wctx, w)
	if errors.Is(err, store.ErrStaleTicket) {
		// A newer fetch already won; its token is the live one.
		r.cfg.Observer.RejectedWrite(app.ID)
		log.Warn("refresher: write rejected, a newer token is stored", "ticket", tk.N)
		return r.scheduled(ctx, app, now.Add(r.cfg.RetryMin))
	}
	if err != nil && !errors.Is(err, store.ErrExpired) {
		// Kept, and written before any new fetch of the app.
		r.setPending(w)
		log.Error("refresher: a fetched token could not be written yet; it is kept and written before any new fetch",
			"err", err, "fingerprint", Fingerprint(tok.Value))
		return r.failed(wctx, app, err, attempts, now, redisNow, false)
	}
	if err != nil {
		return r.failed(wctx, app, err, attempts, now, redisNow, false)
	}
	if reported != "" {
		_, _ = r.cfg.Store.ClearReport(wctx, app.ID, reported)
		r.cfg.Observer.Report(app.ID, "refreshed")
	}
	log.Info("refresher: token refreshed", "version", version, "fingerprint", Fingerprint(tok.Value),
		"expires_in", tok.ExpiresIn, "passive", reported != "", "took", took)
	return r.written1(wctx, app, w, version, start)
}

// written1 records an accepted write of w, sent at start (local clock),
// and schedules the app's next check.
func (r *Refresher) written1(ctx context.Context, app App, w store.Write, version int64, start time.Time) checkResult {
	expiresAt := w.Ticket.IssuedAt.Add(w.ExpiresIn)
	r.setWritten(w)
	r.cfg.Observer.Written(app.ID, expiresAt, w.Ticket.BudgetUsed)
	r.setKeyUntil(app.ID, start.Add(w.ExpiresIn-w.SafetyMargin))
	now := r.cfg.Clock.Now()
	due := now.Add(max(r.dueIn(w.ExpiresIn-now.Sub(start), w.ExpiresIn), 0))
	r.setPlan(app.ID, version, w.Ticket.N, due)
	r.updateState(app.ID, func(s *AppState) {
		s.LastError, s.LastErrorCode, s.LastErrorClass, s.ExpiresAt = "", 0, "", expiresAt
	})
	return r.scheduled(ctx, app, due)
}

// writeFetched writes w, retrying a failed attempt (bounded, with backoff)
// with the same ticket. A write rejected as stale is checked against the
// stored record: an earlier attempt may have been applied with its answer
// lost. It returns store.ErrStaleTicket only when a newer token is stored.
func (r *Refresher) writeFetched(ctx context.Context, w store.Write) (int64, error) {
	wait := writeRetryWait
	for attempt := 1; ; attempt++ {
		res, err := r.cfg.Store.WriteToken(ctx, w)
		switch {
		case err == nil:
			if !res.Acked {
				// Written on the master; fetching again would retire this token.
				r.cfg.Logger.Warn("refresher: token write not acknowledged by enough replicas", "app", w.App)
			}
			return res.Version, nil
		case errors.Is(err, store.ErrStaleTicket):
			return r.confirmWrite(ctx, w)
		case errors.Is(err, store.ErrExpired):
			return 0, err
		case attempt >= writeAttempts || ctx.Err() != nil:
			return 0, err
		}
		select {
		case <-r.cfg.Clock.After(wait):
		case <-ctx.Done():
			return 0, err
		}
		wait *= 2
	}
}

// confirmWrite: a write of w was rejected as stale. If Redis holds w's
// ticket and token, an earlier attempt was applied: a success.
func (r *Refresher) confirmWrite(ctx context.Context, w store.Write) (int64, error) {
	rec, err := r.cfg.Store.Record(ctx, w.App)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	if rec.Ticket == w.Ticket.N && rec.Token == w.Token {
		return rec.Version, nil
	}
	return 0, store.ErrStaleTicket
}

// writePending writes a fetched token whose earlier write failed, with its
// own ticket, instead of fetching again.
func (r *Refresher) writePending(ctx context.Context, app App, w store.Write, attempts int, now, redisNow time.Time) checkResult {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	v, err := r.writeFetched(wctx, w)
	switch {
	case err == nil:
		r.cfg.Logger.Info("refresher: kept token written", "app", app.ID, "version", v, "fingerprint", Fingerprint(w.Token))
		return r.written1(wctx, app, w, v, now.Add(-redisNow.Sub(w.Ticket.IssuedAt)))
	case errors.Is(err, store.ErrStaleTicket) || errors.Is(err, store.ErrExpired):
		r.mu.Lock()
		delete(r.pending, app.ID)
		r.mu.Unlock()
		r.cfg.Logger.Warn("refresher: kept token dropped", "app", app.ID, "err", err)
		return checkResult{app: app.ID, next: now}
	}
	return r.failed(wctx, app, err, attempts, now, redisNow, false)
}

// rewrite writes this replica's last token of app again, with its own
// ticket: Redis lost it (failover) and holds an older token the upstream
// has retired. No upstream call is made.
func (r *Refresher) rewrite(ctx context.Context, app App, w store.Write, attempts int, now, redisNow time.Time) checkResult {
	_, err := r.cfg.Store.WriteToken(ctx, w) // unacknowledged: on the master, like any write
	if err != nil && !errors.Is(err, store.ErrStaleTicket) {
		return r.failed(ctx, app, err, attempts, now, redisNow, false)
	}
	r.cfg.Logger.Warn("refresher: Redis had lost the newest token, wrote it again", "app", app.ID,
		"ticket", w.Ticket.N, "fingerprint", Fingerprint(w.Token), "err", err)
	return checkResult{app: app.ID, next: now} // re-check at once against the rewritten record
}
