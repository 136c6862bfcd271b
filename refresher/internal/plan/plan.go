// Package plan holds the refresher's pure decisions: what a check does
// with the record it read (Decide), whether a ticket may be fetched with
// its parent's token (Parent), when a value is due (DueIn, AfterWrite),
// how often a value the upstream answers unchanged is asked for again
// (Pace), and how long a failure waits (Waits.After). Nothing
// here does I/O or reads a clock: every time is an argument, so each rule
// is table-tested at its edges. What it does NOT decide: how an upstream
// classifies its errors (providers do), or anything about Redis keys
// (package store).
package plan

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

// Check is what Decide looks at. Now and Due are on the local clock; the
// record's times on Redis's.
type Check struct {
	Rec      store.Record
	Reported string // the pending report's token, "" for none
	Now, Due time.Time
	Cooldown time.Duration
}

// Decision is what a check does once it has read the record and the
// pending report: schedule the next look, or fetch.
type Decision struct {
	Fetch bool
	// Passive is the reported token a fetch is for ("" for proactive).
	Passive string
	// Next is when to look again (no fetch).
	Next time.Time
	// CooldownUntil: the report is held by the cooldown until then.
	CooldownUntil time.Time
	// ClearStale: the reported token is no longer current; clear it.
	ClearStale bool
	// Outcome is the report's outcome for the observer ("stale",
	// "cooldown"; "" when there is no report or it causes the fetch).
	Outcome string
}

// Decide is the pure decision of a check: fetch when there is no valid
// value, when it is due, or for a report of the current value older than
// the cooldown; a report of an older value is stale; a report inside the
// cooldown waits for its end (or the due time, if earlier).
func Decide(in Check) Decision {
	rec, reported := in.Rec, in.Reported
	var d Decision
	if reported != "" {
		age := rec.Now.Sub(rec.FetchedAt)
		switch {
		case !rec.Valid() || reported != rec.Token:
			d.ClearStale, d.Outcome = true, "stale"
			reported = ""
		case age < in.Cooldown:
			d.Outcome = "cooldown"
			if !in.Due.After(in.Now) {
				d.Fetch = true // due anyway: a proactive fetch
				return d
			}
			d.CooldownUntil = in.Now.Add(in.Cooldown - age)
			d.Next = minTime(d.CooldownUntil, in.Due)
			return d
		}
	}
	if reported == "" && rec.Valid() && in.Due.After(in.Now) {
		d.Next = in.Due
		return d
	}
	d.Fetch, d.Passive = true, reported
	return d
}

// Rejected is the parent token a ticket fetch was refused for
// (upstream.ClassTokenRejected), with the parent's fetch ticket then.
type Rejected struct {
	Token  string
	Ticket int64
}

// Parent decides whether a ticket may be fetched with its parent's
// record: it returns the token to fetch with, or ok false to wait for the
// parent, which has no valid token, or still holds the token the upstream
// rejected and was not fetched since. A parent fetched again that got the
// same token back (its ticket moved: a same-value upstream) is tried once
// more, so a spurious rejection cannot park the ticket until the token
// expires. A parent in the last ParentEnd of its life is waited for too:
// a same-value parent (WeCom, DingTalk) keeps no safety margin, so a
// ticket call made with it then may reach the upstream after it died
// (42001, seen on a loaded machine), and its replacement is due anyway.
func Parent(parent store.Record, rejected Rejected) (token string, ok bool) {
	switch {
	case !parent.Valid():
		return "", false
	case parent.Token == rejected.Token && parent.Ticket <= rejected.Ticket:
		return "", false
	case parent.TTL < ParentEnd(parent):
		return "", false
	}
	return parent.Token, true
}

// ParentEnd is the end of a parent's life in which a ticket is not fetched
// with it: a tenth of its life (from its fetch to its expiry), at most a
// second; 0 when the record does not say its life.
func ParentEnd(parent store.Record) time.Duration {
	life := parent.ExpiresAt.Sub(parent.FetchedAt)
	if parent.FetchedAt.IsZero() || life <= 0 {
		return 0
	}
	return min(time.Second, life/10)
}

// DueIn is how long until a value with remaining validity and lifetime is
// due: remaining - beforeExpiry, never before half its life, jittered
// within 5% of the lifetime so many credentials do not fetch in one burst.
func DueIn(remaining, lifetime, beforeExpiry time.Duration) time.Duration {
	half := remaining - lifetime/2
	d := max(remaining-beforeExpiry, half)
	if slack := min(d-half, lifetime/20); slack > 0 {
		d -= rand.N(slack)
	}
	return d
}

// Pace is when to ask the upstream again for a value it answered
// unchanged past its due time (expiresAt on the local clock): halfway to
// expiresAt, at least retryMin from now, never after expiresAt; from
// expiresAt on, every retryMin. An upstream that hands out the same value
// until it expires (JS-SDK tickets) has no next value before then, so this
// is the rollover's bounded rate: about log2(beforeExpiry/retryMin) calls
// before the expiry, then one per retryMin.
func Pace(now, expiresAt time.Time, retryMin time.Duration) time.Time {
	if !now.Before(expiresAt) {
		return now.Add(retryMin)
	}
	return minTime(now.Add(max(expiresAt.Sub(now)/2, retryMin)), expiresAt)
}

// AfterWrite is when to look again at a value just written, which expires
// at expiresAt (local clock) after lifetime: its due time (DueIn), or Pace
// when that has passed already, which happens only when the upstream
// answered the stored value and its kept expiry is near (rollover true).
func AfterWrite(now, expiresAt time.Time, lifetime, beforeExpiry, retryMin time.Duration) (next time.Time, rollover bool) {
	due := now.Add(DueIn(expiresAt.Sub(now), lifetime, beforeExpiry))
	if due.After(now) {
		return due, false
	}
	return Pace(now, expiresAt, retryMin), true
}

// Backoff is min(limit, base*2^attempts), jittered down by up to half.
func Backoff(base, limit time.Duration, attempts int) time.Duration {
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

// Local converts at, a time on Redis's clock read when the local clock
// showed local and Redis's showed redisNow (zero when unknown: the clocks
// are taken to agree), to the local clock. Waits cut on Redis's clock (a
// quota day, a budget window) then do not move with a local clock that is
// off.
func Local(local, redisNow, at time.Time) time.Time {
	if redisNow.IsZero() {
		redisNow = local
	}
	return local.Add(at.Sub(redisNow))
}

// QuotaRetryAt is when (local clock) to try again after the daily quota or
// budget ran out: at the next quota day on Redis's clock, plus a minute.
func QuotaRetryAt(local, redisNow time.Time) time.Time {
	if redisNow.IsZero() {
		redisNow = local
	}
	return local.Add(UntilQuotaDay(redisNow))
}

// UntilQuotaDay is the time from now (Redis's clock: the store cuts budget
// days on it) to the next quota day (midnight UTC+8) plus a minute.
func UntilQuotaDay(now time.Time) time.Duration {
	cst := now.UTC().Add(store.BudgetDayOffset)
	next := time.Date(cst.Year(), cst.Month(), cst.Day()+1, 0, 1, 0, 0, time.UTC)
	return next.Sub(cst)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Waits are the retry intervals of a refresher's configuration.
type Waits struct {
	RetryMin, RetryMax, ConfigRetry time.Duration
}

// Wait is what a failed check waits for.
type Wait struct {
	// Class is the failure's class name: "retry" (transient: the backoff
	// grows), "config", "quota" (the daily quota or a budget) or "corrupt".
	Class string
	Until time.Time // local clock
	// Budget names the budget that refused the fetch: "daily", or
	// "<key> <limit>/<window>"; "" for other failures.
	Budget string
}

// After is how long a failed check waits before the next attempt:
// transient errors back off (attempts so far), configuration errors, a
// refused pushed input and corrupt keys retry every ConfigRetry, the daily quota and budget wait
// for the next quota day on Redis's clock, a windowed budget for its
// window's end. now is the local clock, redisNow Redis's (zero when
// unknown).
func (w Waits) After(err error, attempts int, now, redisNow time.Time) Wait {
	var be *store.BudgetError
	switch class := upstream.ClassOf(err); {
	case errors.Is(err, store.ErrCorrupt):
		return Wait{Class: "corrupt", Until: now.Add(w.ConfigRetry)}
	case errors.As(err, &be) && be.Window > 0:
		return Wait{Class: upstream.ClassQuota.String(), Until: maxTime(now, Local(now, redisNow, be.Until)),
			Budget: fmt.Sprintf("%s %d/%s", be.Key, be.Limit, be.Window)}
	case errors.Is(err, store.ErrBudgetExhausted):
		return Wait{Class: upstream.ClassQuota.String(), Until: QuotaRetryAt(now, redisNow), Budget: "daily"}
	case class == upstream.ClassQuota:
		return Wait{Class: class.String(), Until: QuotaRetryAt(now, redisNow)}
	case class == upstream.ClassConfig, class == upstream.ClassInput:
		return Wait{Class: class.String(), Until: now.Add(w.ConfigRetry)}
	}
	return Wait{Class: upstream.ClassRetry.String(), Until: now.Add(Backoff(w.RetryMin, w.RetryMax, attempts))}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
