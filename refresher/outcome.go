package refresher

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tokend/tokend/refresher/internal/plan"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

const (
	errorLevel = slog.LevelError
	warnLevel  = slog.LevelWarn
	infoLevel  = slog.LevelInfo
)

// upstreamCode is err's upstream errcode (0 when none) and class name.
func upstreamCode(err error) (int, string) {
	var ue *upstream.Error
	if errors.As(err, &ue) {
		return ue.Code, ue.Class.String()
	}
	return 0, upstream.ClassOf(err).String()
}

// Waiting states (AppState.Waiting).
const (
	waitRollover = "rollover"
	waitParent   = "parent"
	waitBudget   = "budget"
)

// waiting is what a credential waits for besides its due time.
type waiting struct {
	state, what string
	until       time.Time
}

// waitIf is the waiting state when cond holds, else none.
func waitIf(cond bool, state, what string) waiting {
	if !cond {
		return waiting{}
	}
	return waiting{state: state, what: what}
}

func (s *AppState) setWaiting(w waiting) {
	s.Waiting, s.WaitingFor, s.WaitUntil = w.state, w.what, w.until
}

// scheduled records a successful check and returns its result. The status
// is written only when it changed.
func (r *Refresher) scheduled(ctx context.Context, app App, next time.Time, w waiting) checkResult {
	r.clearCorrupt(app.ID)
	st := r.updateState(app.ID, func(s *AppState) { s.NextRefresh = next; s.setWaiting(w) })
	r.publishStatus(ctx, st)
	return checkResult{ID: app.ID, Next: next}
}

// failed records a failed check and schedules the retry by error class
// (plan.Waits.After).
// redisNow is Redis TIME seen by the check (zero if none): the quota day
// and budget windows are cut on Redis's clock, not the local one.
// fromUpstream says err came from the upstream call (logged per app)
// rather than from Redis (logged once for all apps while it lasts).
func (r *Refresher) failed(ctx context.Context, app App, err error, attempts int, now, redisNow time.Time, fromUpstream bool) checkResult {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Leadership ended or shutdown: not the app's failure.
		return checkResult{ID: app.ID, Next: now}
	}
	code, _ := upstreamCode(err)
	if errors.Is(err, store.ErrCorrupt) && r.reportCorrupt(app.ID, err) {
		// Repaired by the store: go on normally, soon.
		return checkResult{ID: app.ID, Next: now.Add(r.cfg.RetryMin)}
	}
	wt := plan.Waits{RetryMin: r.cfg.RetryMin, RetryMax: r.cfg.RetryMax, ConfigRetry: r.cfg.ConfigRetry}.After(err, attempts, now, redisNow)
	if wt.Class != "corrupt" {
		level, key := warnLevel, "store"
		if wt.Class != upstream.ClassRetry.String() {
			level = errorLevel
		}
		switch {
		case fromUpstream:
			key = "upstream:" + app.ID
		case wt.Class != upstream.ClassRetry.String():
			key = wt.Class + ":" + app.ID
		}
		r.logs.Warn(level, key, "refresher: check failed, keeping the stored token", "app", app.ID, "err", err,
			"errcode", code, "class", wt.Class, "retry_in", wt.Until.Sub(now))
	}
	st := r.updateState(app.ID, func(s *AppState) {
		s.LastError, s.LastErrorCode, s.LastErrorClass, s.NextRefresh = err.Error(), code, wt.Class, wt.Until
		s.setWaiting(waiting{})
		if wt.Budget != "" {
			s.setWaiting(waiting{state: waitBudget, what: wt.Budget, until: wt.Until})
		}
	})
	r.publishStatus(ctx, st)
	return checkResult{ID: app.ID, Next: wt.Until, Transient: wt.Class == upstream.ClassRetry.String(), Failed: true}
}

// publishStatus writes st to Redis unless it equals the last one written.
func (r *Refresher) publishStatus(ctx context.Context, st AppState) {
	s := store.Status{
		Kind: st.Kind, Parent: st.Parent, NextRefresh: st.NextRefresh, LastError: st.LastError,
		LastErrorCode: st.LastErrorCode, BudgetUsed: st.BudgetUsed, Waiting: st.Waiting, WaitingFor: st.WaitingFor,
		WaitUntil: st.WaitUntil, Probe: st.Probe,
	}
	if !r.mem.StatusChanged(st.ID, s) {
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
	r.mem.SetPublished(st.ID, s)
}
