package refresher

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/store"
)

// writeTimeout bounds the write of a fetched token, which runs even after
// the check's own context ended.
const writeTimeout = 5 * time.Second

type checkResult struct {
	app       string
	next      time.Time
	transient bool // a transient failure: the backoff grows
	failed    bool // next is the error class's retry time
}

// check looks at one app and fetches if it must: no valid token, due, or a
// report of the current token past the cooldown. It returns when to look
// again.
func (r *Refresher) check(ctx context.Context, term lock.Term, app App, attempts int) checkResult {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	now := r.cfg.Clock.Now()
	rec, err := r.cfg.Store.Record(ctx, app.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return r.failed(ctx, app, err, attempts, now)
	}
	if w, ok := r.lostWrite(rec); ok {
		return r.rewrite(ctx, app, w, attempts, now)
	}
	reported, err := r.cfg.Store.PendingReport(ctx, app.ID)
	if err != nil {
		return r.failed(ctx, app, err, attempts, now)
	}
	passive := false
	if reported != "" {
		switch {
		case !rec.Valid() || reported != rec.Token:
			// Already replaced (or gone, and fetched below anyway).
			_, _ = r.cfg.Store.ClearReport(ctx, app.ID, reported)
			r.cfg.Observer.Report(app.ID, "stale")
			reported = ""
		case rec.Now.Sub(rec.FetchedAt) < r.cfg.Cooldown:
			r.cfg.Observer.Report(app.ID, "cooldown")
			due := r.dueIn(rec.ExpiresAt.Sub(rec.Now), rec.ExpiresAt.Sub(rec.FetchedAt))
			if due <= 0 {
				// Due anyway: a proactive fetch; the report turns stale.
				return r.fetch(ctx, term, app, "", attempts, now)
			}
			wait := r.cfg.Cooldown - rec.Now.Sub(rec.FetchedAt)
			return r.scheduled(ctx, app, now.Add(min(wait, due)), false)
		default:
			passive = true
		}
	}
	if !passive && rec.Valid() {
		if due := r.dueIn(rec.ExpiresAt.Sub(rec.Now), rec.ExpiresAt.Sub(rec.FetchedAt)); due > 0 {
			return r.scheduled(ctx, app, now.Add(due), false)
		}
	}
	return r.fetch(ctx, term, app, reported, attempts, now)
}

// fetch takes a ticket, calls the upstream and writes the token.
func (r *Refresher) fetch(ctx context.Context, term lock.Term, app App, reported string, attempts int, now time.Time) checkResult {
	log := r.cfg.Logger.With("app", app.ID)
	tk, err := r.cfg.Store.TakeTicket(ctx, app.ID, term.Value, r.cfg.DailyBudget)
	if errors.Is(err, store.ErrNotReplicated) {
		// Taken on the master: tickets still grow after a failover (TIME).
		log.Warn("refresher: ticket not acknowledged by enough replicas", "err", err)
		err = nil
	}
	if errors.Is(err, store.ErrNotLeader) {
		log.Warn("refresher: lease lost, not fetching")
		return checkResult{app: app.ID, next: now.Add(r.cfg.ReportPoll)}
	}
	if err != nil {
		return r.failed(ctx, app, err, attempts, now)
	}
	start := r.cfg.Clock.Now()
	tok, err := app.Provider.Fetch(ctx, FetchRequest{Invalid: reported})
	took := r.cfg.Clock.Since(start)
	r.updateState(app.ID, func(s *AppState) { s.Fetches++; s.LastFetch = start; s.BudgetUsed = tk.BudgetUsed })
	if err == nil && (tok.Value == "" || tok.ExpiresIn <= 0) {
		err = &UpstreamError{Message: "provider returned an empty token", Class: ClassRetry}
	}
	if err != nil {
		var ue *UpstreamError
		code := 0
		if errors.As(err, &ue) {
			code = ue.Code
		}
		r.cfg.Observer.Fetched(app.ID, ClassOf(err).String(), code, took)
		return r.failed(ctx, app, err, attempts, now)
	}
	r.cfg.Observer.Fetched(app.ID, "ok", 0, took)
	margin := min(r.cfg.SafetyMargin, tok.ExpiresIn/10)
	// The upstream has issued the token (and will retire the previous one):
	// write it even if leadership ended or the check ran out of time
	// meanwhile. A late write is safe; the ticket decides whether it wins.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer wcancel()
	w := store.Write{
		App: app.ID, Ticket: tk, Token: tok.Value, ExpiresIn: tok.ExpiresIn,
		SafetyMargin: margin, Epoch: term.Epoch, Leader: term.ID,
	}
	version, err := r.cfg.Store.WriteToken(wctx, w)
	if errors.Is(err, store.ErrNotReplicated) {
		// Written on the master; fetching again would retire this token.
		log.Warn("refresher: token write not acknowledged by enough replicas", "err", err)
		err = nil
	}
	if errors.Is(err, store.ErrStaleTicket) {
		// A newer fetch already won; its token is the live one. Not retried.
		r.cfg.Observer.RejectedWrite(app.ID)
		log.Warn("refresher: write rejected, a newer token is stored", "ticket", tk.N)
		return r.scheduled(ctx, app, now.Add(r.cfg.RetryMin), false)
	}
	if err != nil {
		log.Error("refresher: a fetched token could not be written", "err", err, "fingerprint", Fingerprint(tok.Value))
		return r.failed(wctx, app, err, attempts, now)
	}
	expiresAt := tk.IssuedAt.Add(tok.ExpiresIn)
	r.setWritten(w)
	r.cfg.Observer.Written(app.ID, expiresAt, tk.BudgetUsed)
	if reported != "" {
		_, _ = r.cfg.Store.ClearReport(wctx, app.ID, reported)
		r.cfg.Observer.Report(app.ID, "refreshed")
	}
	log.Info("refresher: token refreshed", "version", version, "fingerprint", Fingerprint(tok.Value),
		"expires_in", tok.ExpiresIn, "passive", reported != "", "took", took)
	remaining := tok.ExpiresIn - r.cfg.Clock.Since(start)
	r.updateState(app.ID, func(s *AppState) {
		s.LastError, s.LastErrorCode, s.LastErrorClass, s.ExpiresAt = "", 0, "", expiresAt
	})
	return r.scheduled(wctx, app, r.cfg.Clock.Now().Add(max(r.dueIn(remaining, tok.ExpiresIn), 0)), true)
}

// rewrite writes this replica's last token of app again, with its own
// ticket: Redis lost it (failover) and holds an older token the upstream
// has retired. No upstream call is made.
func (r *Refresher) rewrite(ctx context.Context, app App, w store.Write, attempts int, now time.Time) checkResult {
	_, err := r.cfg.Store.WriteToken(ctx, w)
	if errors.Is(err, store.ErrNotReplicated) {
		err = nil
	}
	if err != nil && !errors.Is(err, store.ErrStaleTicket) {
		return r.failed(ctx, app, err, attempts, now)
	}
	r.cfg.Logger.Warn("refresher: Redis had lost the newest token, wrote it again", "app", app.ID,
		"ticket", w.Ticket.N, "fingerprint", Fingerprint(w.Token), "err", err)
	return checkResult{app: app.ID, next: now} // re-check at once against the rewritten record
}

// dueIn is how long until a token with remaining validity and lifetime is
// due: remaining - BeforeExpiry, never before half its life, jittered
// within 5% of the lifetime so many apps do not fetch in one burst.
func (r *Refresher) dueIn(remaining, lifetime time.Duration) time.Duration {
	half := remaining - lifetime/2
	d := max(remaining-r.cfg.BeforeExpiry, half)
	if slack := min(d-half, lifetime/20); slack > 0 {
		d -= rand.N(slack)
	}
	return d
}

// scheduled records a successful check and returns its result.
func (r *Refresher) scheduled(ctx context.Context, app App, next time.Time, changed bool) checkResult {
	var prev time.Time
	st := r.updateState(app.ID, func(s *AppState) { prev, s.NextRefresh = s.NextRefresh, next })
	if d := next.Sub(prev); changed || d > time.Second || d < -time.Second || st.LastError != "" {
		r.publishStatus(ctx, st) // a re-check that changed nothing writes nothing
	}
	return checkResult{app: app.ID, next: next}
}

// failed records a failed check and schedules the retry by error class.
func (r *Refresher) failed(ctx context.Context, app App, err error, attempts int, now time.Time) checkResult {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Leadership ended or shutdown: not the app's failure.
		return checkResult{app: app.ID, next: now}
	}
	class, code := ClassOf(err), 0
	var ue *UpstreamError
	if errors.As(err, &ue) {
		code = ue.Code
	}
	var wait time.Duration
	switch {
	case errors.Is(err, store.ErrBudgetExhausted):
		class, wait = ClassQuota, untilQuotaDay(now)
	case class == ClassRetry:
		wait = backoff(r.cfg.RetryMin, r.cfg.RetryMax, attempts)
	case class == ClassConfig:
		wait = r.cfg.ConfigRetry
	case class == ClassQuota:
		wait = untilQuotaDay(now)
	}
	next := now.Add(wait)
	level := r.cfg.Logger.Warn
	if class != ClassRetry {
		level = r.cfg.Logger.Error
	}
	level("refresher: check failed, keeping the stored token", "app", app.ID, "err", err,
		"errcode", code, "class", class.String(), "retry_in", wait)
	st := r.updateState(app.ID, func(s *AppState) {
		s.LastError, s.LastErrorCode, s.LastErrorClass, s.NextRefresh = err.Error(), code, class.String(), next
	})
	r.publishStatus(ctx, st)
	return checkResult{app: app.ID, next: next, transient: class == ClassRetry, failed: true}
}

func (r *Refresher) publishStatus(ctx context.Context, st AppState) {
	err := r.cfg.Store.SetStatus(ctx, st.ID, store.Status{
		NextRefresh: st.NextRefresh, LastError: st.LastError, LastErrorCode: st.LastErrorCode,
		BudgetUsed: st.BudgetUsed, UpdatedAt: r.cfg.Clock.Now(),
	})
	if err != nil && ctx.Err() == nil {
		r.cfg.Logger.Debug("refresher: publish status", "app", st.ID, "err", err)
	}
}

// backoff is min(max, base*2^attempts), jittered down by up to half.
func backoff(base, limit time.Duration, attempts int) time.Duration {
	d := base
	for range min(attempts, 30) {
		if d >= limit/2 {
			d = limit
			break
		}
		d *= 2
	}
	d = min(d, limit)
	return d/2 + rand.N(d/2+1)
}

// untilQuotaDay is the time from now to the next quota day (midnight UTC+8)
// plus a minute.
func untilQuotaDay(now time.Time) time.Duration {
	cst := now.UTC().Add(store.BudgetDayOffset)
	next := time.Date(cst.Year(), cst.Month(), cst.Day()+1, 0, 1, 0, 0, time.UTC)
	return next.Sub(cst)
}
