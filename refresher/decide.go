package refresher

import (
	"time"

	"github.com/tokend/tokend/store"
)

// decision is what a check does once it has read the app's record and
// pending report: schedule the next look, or fetch.
type decision struct {
	fetch bool
	// passive is the reported token a fetch is for ("" for proactive).
	passive string
	// next is when to look again (no fetch).
	next time.Time
	// cooldownUntil: the report is held by the cooldown until then.
	cooldownUntil time.Time
	// clearStale: the reported token is no longer current; clear it.
	clearStale bool
	// outcome is the report's outcome for the observer ("stale",
	// "cooldown"; "" when there is no report or it causes the fetch).
	outcome string
}

// checkInput is what decide looks at. now and due are on the local clock;
// rec's times on Redis's.
type checkInput struct {
	rec      store.Record
	reported string // the pending report's token, "" for none
	now, due time.Time
	cooldown time.Duration
}

// decide is the pure decision of a check: fetch when there is no valid
// token, when the token is due, or for a report of the current token older
// than the cooldown; a report of an older token is stale; a report inside
// the cooldown waits for its end (or the due time, if earlier).
func decide(in checkInput) decision {
	rec, reported := in.rec, in.reported
	var d decision
	if reported != "" {
		age := rec.Now.Sub(rec.FetchedAt)
		switch {
		case !rec.Valid() || reported != rec.Token:
			d.clearStale, d.outcome = true, "stale"
			reported = ""
		case age < in.cooldown:
			d.outcome = "cooldown"
			if !in.due.After(in.now) {
				d.fetch = true // due anyway: a proactive fetch
				return d
			}
			d.cooldownUntil = in.now.Add(in.cooldown - age)
			d.next = minTime(d.cooldownUntil, in.due)
			return d
		}
	}
	if reported == "" && rec.Valid() && in.due.After(in.now) {
		d.next = in.due
		return d
	}
	d.fetch, d.passive = true, reported
	return d
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
