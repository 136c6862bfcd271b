package refresher

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

const errorLevel = slog.LevelError

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

// scheduled records a successful check and returns its result. The status
// is written only when it changed.
func (r *Refresher) scheduled(ctx context.Context, app App, next time.Time) checkResult {
	r.clearCorrupt(app.ID)
	st := r.updateState(app.ID, func(s *AppState) { s.NextRefresh = next })
	r.publishStatus(ctx, st)
	return checkResult{app: app.ID, next: next}
}

// failed records a failed check and schedules the retry by error class.
// redisNow is Redis TIME seen by the check (zero if none): the quota day
// is cut on Redis's clock, not the local one. fromUpstream says err came from
// the upstream call (logged per app) rather than from Redis (logged once
// for all apps while it lasts).
func (r *Refresher) failed(ctx context.Context, app App, err error, attempts int, now, redisNow time.Time, fromUpstream bool) checkResult {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Leadership ended or shutdown: not the app's failure.
		return checkResult{app: app.ID, next: now}
	}
	code := 0
	var ue *upstream.Error
	if errors.As(err, &ue) {
		code = ue.Code
	}
	if errors.Is(err, store.ErrCorrupt) && r.reportCorrupt(app.ID, err) {
		// Repaired by the store: go on normally, soon.
		return checkResult{app: app.ID, next: now.Add(r.cfg.RetryMin)}
	}
	wait, className := r.retryAfter(err, attempts, now, redisNow)
	next := now.Add(wait)
	if className != "corrupt" {
		level, key := slog.LevelWarn, "store"
		if className != upstream.ClassRetry.String() {
			level = errorLevel
		}
		switch {
		case fromUpstream:
			key = "upstream:" + app.ID
		case className != upstream.ClassRetry.String():
			key = className + ":" + app.ID
		}
		r.logs.warn(level, key, "refresher: check failed, keeping the stored token", "app", app.ID, "err", err,
			"errcode", code, "class", className, "retry_in", wait)
	}
	st := r.updateState(app.ID, func(s *AppState) {
		s.LastError, s.LastErrorCode, s.LastErrorClass, s.NextRefresh = err.Error(), code, className, next
	})
	r.publishStatus(ctx, st)
	return checkResult{app: app.ID, next: next, transient: className == upstream.ClassRetry.String(), failed: true}
}

// retryAfter is how long a failed check waits before the app's next
// attempt, and the error's class name: transient errors back off,
// configuration errors and corrupt keys retry slowly, the daily quota and
// budget wait for the next quota day on Redis's clock.
func (r *Refresher) retryAfter(err error, attempts int, now, redisNow time.Time) (time.Duration, string) {
	switch class := upstream.ClassOf(err); {
	case errors.Is(err, store.ErrCorrupt):
		return r.cfg.ConfigRetry, "corrupt"
	case errors.Is(err, store.ErrBudgetExhausted) || class == upstream.ClassQuota:
		return quotaRetryAt(now, redisNow).Sub(now), upstream.ClassQuota.String()
	case class == upstream.ClassConfig:
		return r.cfg.ConfigRetry, class.String()
	default:
		return backoff(r.cfg.RetryMin, r.cfg.RetryMax, attempts), upstream.ClassRetry.String()
	}
}

// quotaRetryAt is when (local clock) to try again after the daily quota or
// budget ran out: at the next quota day on Redis's clock (redisNow, zero
// when unknown: then the local clock), plus a minute.
func quotaRetryAt(local, redisNow time.Time) time.Time {
	if redisNow.IsZero() {
		redisNow = local
	}
	return local.Add(untilQuotaDay(redisNow))
}

// publishStatus writes st to Redis unless it equals the last one written.
func (r *Refresher) publishStatus(ctx context.Context, st AppState) {
	s := store.Status{
		NextRefresh: st.NextRefresh, LastError: st.LastError, LastErrorCode: st.LastErrorCode,
		BudgetUsed: st.BudgetUsed,
	}
	if !r.statusChanged(st.ID, s) {
		return
	}
	withTime := s
	withTime.UpdatedAt = r.cfg.Clock.Now()
	if err := r.cfg.Store.SetStatus(ctx, st.ID, withTime); err != nil {
		if ctx.Err() == nil {
			r.cfg.Logger.Debug("refresher: publish status", "app", st.ID, "err", err)
		}
		return
	}
	r.setPublished(st.ID, s)
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

// untilQuotaDay is the time from now (Redis's clock: the store cuts budget
// days on it) to the next quota day (midnight UTC+8) plus a minute. The
// caller adds it to its local clock: a local clock that is off does not
// move the retry by a day.
func untilQuotaDay(now time.Time) time.Duration {
	cst := now.UTC().Add(store.BudgetDayOffset)
	next := time.Date(cst.Year(), cst.Month(), cst.Day()+1, 0, 1, 0, 0, time.UTC)
	return next.Sub(cst)
}
