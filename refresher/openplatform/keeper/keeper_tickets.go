package keeper

import (
	"context"
	"errors"
	"time"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/internal/plan"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/platform"
)

// ticketRetry is how often a ticket that waits for its authorizer's token
// is looked at again.
const ticketRetry = time.Second

// ticketNext is when to ask for a ticket again whose kept (first-seen)
// expiry is expires: at that expiry, as WeChat answers the same ticket
// until then (an earlier ask can only get it back), and from then on
// every tick until a new one arrives. About one call per ticket life; a
// reader sees no ticket from the expiry to the first ask that gets the
// new one (at most a tick and a fetch).
func (k *Keeper) ticketNext(now, expires time.Time) time.Time {
	if now.Before(expires) {
		return expires
	}
	return now.Add(k.cfg.Tick)
}

// keptTicket is one ticket of an authorizer as the keeper tracks it.
type keptTicket struct {
	due, expires time.Time
	failures     int
	// rejected is the authorizer token a ticket call was refused for: the
	// ticket waits until the stored token changed (plan.Parent).
	rejected plan.Rejected
}

// newTickets plans the tickets of appid from their stored records: due
// now without a valid one.
func (k *Keeper) newTickets(ctx context.Context, appid string, now time.Time) map[string]*keptTicket {
	if len(k.cfg.Tickets) == 0 {
		return nil
	}
	out := make(map[string]*keptTicket, len(k.cfg.Tickets))
	for kind := range k.cfg.Tickets {
		t := &keptTicket{due: now}
		rec, err := k.cfg.Store.Record(ctx, platform.AuthorizerTicketID(k.cfg.ComponentID, appid, kind))
		if err == nil && rec.Valid() {
			t.expires = now.Add(rec.ExpiresAt.Sub(rec.Now))
			t.due = k.ticketNext(now, t.expires)
		}
		out[kind] = t
	}
	return out
}

// refreshTicket fetches appid's ticket of kind with the authorizer's
// token as stored; it reports whether an upstream call was made. Without
// a usable token (none valid, in its last moments, or the one a ticket
// call was refused for) no call is made: the ticket looks again after
// ticketRetry, and at once after the token's next write.
func (k *Keeper) refreshTicket(ctx context.Context, term lock.Term, appid, kind string, now time.Time) bool {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	id := platform.AuthorizerID(k.cfg.ComponentID, appid)
	tid := id + ":" + kind
	parent, err := k.cfg.Store.Record(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrCorrupt) {
		k.ticketFailed(ctx, tid, appid, kind, now, err)
		return false
	}
	t := k.ticket(appid, kind)
	if t == nil {
		return false
	}
	tok, ok := plan.Parent(parent, t.rejected)
	if !ok {
		k.setTicketDue(appid, kind, now.Add(ticketRetry))
		return false
	}
	tk, err := k.cfg.Store.TakeTicket(ctx, tid, term.Value, k.cfg.DailyBudget)
	if err != nil {
		if !errors.Is(err, store.ErrNotLeader) {
			k.ticketFailed(ctx, tid, appid, kind, now, err)
		}
		return false
	}
	got, err := k.cfg.Tickets[kind].Fetch(ctx, upstream.FetchRequest{ParentToken: tok})
	if upstream.ClassOf(err) == upstream.ClassTokenRejected {
		k.ticketRejected(ctx, tid, appid, kind, parent, now, err)
		return true
	}
	if err != nil {
		k.ticketFailed(ctx, tid, appid, kind, now, err)
		return true
	}
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer wcancel()
	res, err := k.cfg.Store.WriteAuthorizerTicket(wctx, store.Write{
		App: tid, Ticket: tk, Token: got.Value, ExpiresIn: got.ExpiresIn, SameValue: store.SameValueKeepStored,
		Epoch: term.Epoch, Leader: term.ID,
	})
	switch {
	case errors.Is(err, platform.ErrAuthorizerGone):
		k.drop(appid)
		k.cfg.Observer.AuthorizerRefreshed(k.cfg.ComponentID, kind, "gone")
	case errors.Is(err, store.ErrNotRolledOver):
		// The upstream still answers the stored ticket past its kept
		// expiry: ask again at the next tick.
		k.setTicketDue(appid, kind, k.ticketNext(now, now.Add(res.ExpiresAt.Sub(tk.IssuedAt))))
		k.cfg.Observer.AuthorizerRefreshed(k.cfg.ComponentID, kind, "unchanged")
	case err != nil:
		k.ticketFailed(wctx, tid, appid, kind, now, err)
	default:
		k.ticketWritten(wctx, tid, appid, kind, now, tk, res)
	}
	return true
}

// ticketWritten plans the ticket's next fetch after a write (ticketNext).
func (k *Keeper) ticketWritten(ctx context.Context, tid, appid, kind string, now time.Time, tk store.Ticket, res store.WriteResult) {
	expires := now.Add(res.ExpiresAt.Sub(tk.IssuedAt))
	next := k.ticketNext(now, expires)
	k.mu.Lock()
	if t := k.entries[appid].ticketOf(kind); t != nil {
		t.expires, t.due, t.failures, t.rejected = expires, next, 0, plan.Rejected{}
	}
	k.mu.Unlock()
	k.setTicketStatus(ctx, tid, kind, store.Status{NextRefresh: next})
	outcome := "unchanged"
	if res.Changed {
		outcome = "ok"
	}
	k.cfg.Observer.AuthorizerRefreshed(k.cfg.ComponentID, kind, outcome)
}

// ticketRejected handles a ticket call refused for the authorizer token
// (40001, 40014, 42001): the token is reported like a business app's
// report (compare-and-refresh; its cooldown applies) and the ticket waits
// for the next token.
func (k *Keeper) ticketRejected(ctx context.Context, tid, appid, kind string, parent store.Record, now time.Time, err error) {
	k.mu.Lock()
	if t := k.entries[appid].ticketOf(kind); t != nil {
		t.rejected, t.due = plan.Rejected{Token: parent.Token, Ticket: parent.Ticket}, now.Add(ticketRetry)
	}
	k.reports[appid] = time.Time{} // looked at next tick, without waiting for the event
	k.mu.Unlock()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	if rerr := k.cfg.Store.Report(rctx, platform.AuthorizerID(k.cfg.ComponentID, appid), parent.Token); rerr != nil {
		k.cfg.Logger.Warn("openplatform: report of a rejected authorizer token failed", "ticket", tid, "err", rerr)
	}
	k.cfg.Logger.Warn("openplatform: the upstream rejected the authorizer token for a ticket; reported it",
		"ticket", tid, "fingerprint", store.Fingerprint(parent.Token), "err", err)
	k.cfg.Observer.AuthorizerRefreshed(k.cfg.ComponentID, kind, "token_rejected")
}

// ticketFailed backs off like a token and records the error in status.
func (k *Keeper) ticketFailed(ctx context.Context, tid, appid, kind string, now time.Time, err error) {
	st := errorStatus(err)
	k.mu.Lock()
	if t := k.entries[appid].ticketOf(kind); t != nil {
		t.failures++
		t.due = now.Add(retryAfter(t.failures))
		st.NextRefresh = t.due
	}
	k.mu.Unlock()
	k.cfg.Logger.Warn("openplatform: authorizer ticket not refreshed", "ticket", tid, "err", err)
	k.setTicketStatus(ctx, tid, kind, st)
	k.cfg.Observer.AuthorizerRefreshed(k.cfg.ComponentID, kind, "failed")
}

func (k *Keeper) setTicketStatus(ctx context.Context, tid, kind string, st store.Status) {
	st.Kind, st.UpdatedAt = kind, k.cfg.Clock.Now()
	st.Parent, _ = store.Parent(tid)
	if err := k.cfg.Store.SetStatus(ctx, tid, st); err != nil && ctx.Err() == nil {
		k.cfg.Logger.Debug("openplatform: authorizer ticket status not written", "ticket", tid, "err", err)
	}
}

// ticket returns a copy of appid's ticket of kind, nil when not kept.
func (k *Keeper) ticket(appid, kind string) *keptTicket {
	k.mu.Lock()
	defer k.mu.Unlock()
	t := k.entries[appid].ticketOf(kind)
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func (k *Keeper) setTicketDue(appid, kind string, at time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if t := k.entries[appid].ticketOf(kind); t != nil {
		t.due = at
	}
}

// ticketOf is e's ticket of kind; nil for a nil e.
func (e *kept) ticketOf(kind string) *keptTicket {
	if e == nil {
		return nil
	}
	return e.tickets[kind]
}

// tokenWritten wakes e's tickets that wait for a token: a ticket fetched
// with the token just written is due at once when it has no valid value
// or its token was rejected. Called with k.mu held.
func (e *kept) tokenWritten(now time.Time) {
	for _, t := range e.tickets {
		if t.rejected.Token != "" || !t.expires.After(now) {
			t.due = now
		}
	}
}
