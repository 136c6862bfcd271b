package keeper

import (
	"context"
	"errors"
	"time"

	"github.com/tokend/tokend/refresher/internal/plan"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/platform"
)

// Compare-and-refresh of authorizer tokens. A business app that got
// 40001/40014/42001 with an authorizer token reports it exactly as for an
// app's token (HSET {prefix}:reports <component>/<appid> <token>, PUBLISH
// a report event; reader.ReportInvalid; a ticket call of this keeper). The
// keeper looks at the reports of the authorizers named by report events,
// of those whose cooldown ended, and of all of them on every full read (a
// new leader finds the reports filed before it led). plan.Decide decides:
// a report of the current token refreshes it once, at most once per
// Cooldown; a report of anything else (an older token, garbage) is
// cleared without a call; a report of an authorizer this keeper does not
// keep is cleared.

// checkReports reads the pending reports to look at (all kept
// authorizers when all) and acts on each.
func (k *Keeper) checkReports(ctx context.Context, now time.Time, all bool) {
	k.mu.Lock()
	var appids []string
	if all {
		for appid := range k.entries {
			appids = append(appids, appid)
		}
	}
	for appid, at := range k.reports {
		if !at.After(now) {
			if !all {
				appids = append(appids, appid)
			}
			delete(k.reports, appid)
		}
	}
	k.mu.Unlock()
	if len(appids) == 0 {
		return
	}
	ids := make([]string, len(appids))
	for i, appid := range appids {
		ids[i] = platform.AuthorizerID(k.cfg.ComponentID, appid)
	}
	pending, err := k.cfg.Store.PendingReportsFor(ctx, ids)
	if err != nil {
		k.cfg.Logger.Debug("openplatform: reports not read; read again at the next full read", "component", k.cfg.ComponentID, "err", err)
		return
	}
	for i, appid := range appids {
		if tok, ok := pending[ids[i]]; ok {
			k.decideReport(ctx, appid, ids[i], tok, now)
		}
	}
}

// decideReport applies plan.Decide to one report of appid's token.
func (k *Keeper) decideReport(ctx context.Context, appid, id, reported string, now time.Time) {
	k.mu.Lock()
	e := k.entries[appid]
	var due time.Time
	if e != nil {
		due = e.due
	}
	refused := e != nil && e.refused != ""
	k.mu.Unlock()
	if e == nil || refused {
		// Not kept (unauthorized, garbage) or waiting for a new
		// authorization: no call can follow.
		k.clearReport(ctx, id, reported, "ignored")
		return
	}
	rec, err := k.cfg.Store.Record(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrCorrupt) {
		k.mu.Lock()
		k.reports[appid] = now.Add(5 * ticketRetry) // Redis trouble: look again
		k.mu.Unlock()
		return
	}
	d := plan.Decide(plan.Check{Rec: rec, Reported: reported, Now: now, Due: due, Cooldown: k.cfg.Cooldown})
	switch {
	case d.ClearStale:
		k.clearReport(ctx, id, reported, "stale")
	case d.Fetch:
		k.mu.Lock()
		if e := k.entries[appid]; e != nil {
			e.due, e.reported = now, d.Passive
			if d.Passive == "" { // due anyway: the proactive fetch answers it
				e.reported = reported
			}
		}
		k.mu.Unlock()
		k.cfg.Observer.AuthorizerReport(k.cfg.ComponentID, "refresh")
	case !d.CooldownUntil.IsZero():
		k.mu.Lock()
		k.reports[appid] = d.CooldownUntil
		k.mu.Unlock()
		k.cfg.Observer.AuthorizerReport(k.cfg.ComponentID, "cooldown")
	}
}

// clearReport deletes id's report if it still names reported.
func (k *Keeper) clearReport(ctx context.Context, id, reported, outcome string) {
	if _, err := k.cfg.Store.ClearReport(ctx, id, reported); err != nil {
		k.cfg.Logger.Debug("openplatform: report not cleared", "authorizer", id, "err", err)
	}
	if outcome != "" {
		k.cfg.Observer.AuthorizerReport(k.cfg.ComponentID, outcome)
	}
}
