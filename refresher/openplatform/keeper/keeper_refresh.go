package keeper

import (
	"context"
	"errors"
	"time"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/platform"
)

// WaitingReauthorization is the WaitingFor of an authorizer whose
// refresh token was refused (61023).
const WaitingReauthorization = "reauthorization"

// retryAfter is the backoff after n failures: 2s doubling, at most 5m.
func retryAfter(n int) time.Duration {
	return min(2*time.Second<<min(n, 10), 5*time.Minute)
}

// refresh refreshes one authorizer; it reports whether an upstream call
// was made.
func (k *Keeper) refresh(ctx context.Context, term lock.Term, compToken, appid string, now time.Time) bool {
	id := platform.AuthorizerID(k.cfg.ComponentID, appid)
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	a, err := k.cfg.Store.Authorizer(ctx, k.cfg.ComponentID, appid)
	if errors.Is(err, store.ErrNotFound) {
		k.drop(appid)
		return false
	}
	k.mu.Lock()
	var reported string
	if e := k.entries[appid]; e != nil {
		reported = e.reported
	}
	k.mu.Unlock()
	if err != nil {
		k.failed(ctx, id, appid, now, err)
		return false
	}
	tk, err := k.cfg.Store.TakeTicket(ctx, id, term.Value, k.cfg.DailyBudget)
	if err != nil {
		if !errors.Is(err, store.ErrNotLeader) {
			k.failed(ctx, id, appid, now, err)
		}
		return false
	}
	g, err := k.cfg.Component.AuthorizerToken(ctx, compToken, appid, a.RefreshToken)
	if openplatform.NeedsReauthorization(err) {
		k.needsReauthorization(ctx, id, appid, a.RefreshToken, now)
		return true
	}
	if err != nil {
		k.failed(ctx, id, appid, now, err)
		return true
	}
	// The fetched token is written even if leadership ends meanwhile: the
	// fence decides.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer wcancel()
	res, err := k.cfg.Store.WriteAuthorizerToken(wctx, store.Write{
		App: id, Ticket: tk, Token: g.Token.Value, ExpiresIn: g.Token.ExpiresIn, SafetyMargin: min(k.cfg.SafetyMargin, g.Token.ExpiresIn/10),
		Epoch: term.Epoch, Leader: term.ID,
	}, g.RefreshToken)
	switch {
	case errors.Is(err, platform.ErrAuthorizerGone):
		k.drop(appid)
		k.cfg.Observer.AuthorizerRefreshed(k.cfg.ComponentID, KindToken, "gone")
	case err != nil:
		k.failed(wctx, id, appid, now, err)
	default:
		k.written(wctx, id, appid, now, res)
		if reported != "" {
			k.clearReport(wctx, id, reported, "")
		}
	}
	return true
}

// written plans the next refresh after a write.
func (k *Keeper) written(ctx context.Context, id, appid string, now time.Time, res store.WriteResult) {
	k.mu.Lock()
	e := k.entries[appid]
	var next time.Time
	if e != nil {
		e.expires = now.Add(res.ExpiresAt.Sub(res.FetchedAt))
		e.due, e.failures, e.lastErr, e.reported = k.dueFor(now, e.expires), 0, "", ""
		next = e.due
		e.tokenWritten(now)
	}
	k.mu.Unlock()
	k.cfg.Observer.AuthorizerRefreshed(k.cfg.ComponentID, KindToken, "ok")
	k.setStatus(ctx, id, store.Status{NextRefresh: next})
	k.audit(fleet.AuditEntry{App: id, Action: "refresh", Outcome: "ok", Detail: "version " + itoa64(res.Version)})
}

// failed backs off and records the error in status.
func (k *Keeper) failed(ctx context.Context, id, appid string, now time.Time, err error) {
	st := errorStatus(err)
	k.mu.Lock()
	if e := k.entries[appid]; e != nil {
		e.failures++
		e.due = now.Add(retryAfter(e.failures))
		e.lastErr = st.LastError
		st.NextRefresh = e.due
	}
	k.mu.Unlock()
	k.cfg.Logger.Warn("openplatform: authorizer token not refreshed", "authorizer", id, "err", err)
	k.setStatus(ctx, id, st)
	k.cfg.Observer.AuthorizerRefreshed(k.cfg.ComponentID, KindToken, "failed")
}

// errorStatus is the status of a failed fetch: the error and its
// upstream errcode (0 for other errors).
func errorStatus(err error) store.Status {
	st := store.Status{LastError: err.Error()}
	var ue *upstream.Error
	if errors.As(err, &ue) {
		st.LastErrorCode = ue.Code
	}
	return st
}

// needsReauthorization stops calls for appid until its refresh token
// changes.
func (k *Keeper) needsReauthorization(ctx context.Context, id, appid, refused string, now time.Time) {
	k.mu.Lock()
	if e := k.entries[appid]; e != nil {
		e.refused, e.lastErr = refused, "61023: needs re-authorization"
	}
	k.mu.Unlock()
	k.cfg.Logger.Warn("openplatform: authorizer needs re-authorization (61023); no more calls until it authorizes again", "authorizer", id)
	k.setStatus(ctx, id, store.Status{Waiting: "input", WaitingFor: WaitingReauthorization,
		LastError: "needs re-authorization", LastErrorCode: openplatform.CodeNeedsReauthorization})
	k.audit(fleet.AuditEntry{App: id, Action: "refresh", Outcome: "needs_reauthorization", Errcode: openplatform.CodeNeedsReauthorization})
	k.cfg.Observer.AuthorizerRefreshed(k.cfg.ComponentID, KindToken, "needs_reauthorization")
}

func (k *Keeper) drop(appid string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.entries[appid] != nil {
		k.stored--
	}
	delete(k.entries, appid)
}

func (k *Keeper) setStatus(ctx context.Context, id string, st store.Status) {
	st.Kind, st.Parent, st.UpdatedAt = "authorizer", k.cfg.ComponentID, k.cfg.Clock.Now()
	if err := k.cfg.Store.SetStatus(ctx, id, st); err != nil && ctx.Err() == nil {
		k.cfg.Logger.Debug("openplatform: authorizer status not written", "authorizer", id, "err", err)
	}
}

func (k *Keeper) audit(e fleet.AuditEntry) {
	if k.cfg.Audit != nil {
		k.cfg.Audit(e)
	}
}

// Summary counts the authorizers this replica keeps (all zero when it
// does not lead), and their tickets: Tickets kept, TicketsValid of them
// unexpired.
type Summary struct {
	Total, Valid, Failing, NeedsReauthorization int
	Tickets, TicketsValid                       int
}

// Summary counts the kept authorizers by state.
func (k *Keeper) Summary() Summary {
	now := k.cfg.Clock.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	var s Summary
	for _, e := range k.entries {
		s.Total++
		switch {
		case e.refused != "":
			s.NeedsReauthorization++
		case e.lastErr != "":
			s.Failing++
		case e.expires.After(now):
			s.Valid++
		}
		for _, t := range e.tickets {
			s.Tickets++
			if t.expires.After(now) {
				s.TicketsValid++
			}
		}
	}
	return s
}
