package lock

import (
	"context"
	"strings"
	"time"
	"unicode"
)

// What a standby says, decided from plain values (campaign, outcome, now)
// and performed by the caller: a WARN for the first failed obtain and at
// most one summary per failureSummaryEvery while Redis stays unreachable,
// an INFO when it answers again, and one INFO when the replica becomes a
// standby (or sees a new leader), never one per retry.

// failureSummaryEvery is how often a failing campaign logs a summary.
const failureSummaryEvery = time.Minute

type outcome int

const (
	outcomeObtained outcome = iota // this replica got the lease
	outcomeHeld                    // someone else holds it
	outcomeFailed                  // no answer or an error
)

// campaign is what a campaign has logged so far. Only Run's goroutine uses it.
type campaign struct {
	standby      bool      // "standing by" was logged for the current leader
	failing      int       // failed obtains since the last answer
	failingSince time.Time // first of them
	unreported   int       // failures not yet in a log line
	lastReport   time.Time // last failure line
}

// campaignLog is what to log after one obtain.
type campaignLog struct {
	firstFailure bool // WARN with the error
	summary      bool // WARN: still failing, unreported failures since lastReport
	recovered    bool // INFO: answering again after failing failures
	standby      bool // INFO: standing by (read who leads first)
	count        int  // failures for summary/recovered
	since        time.Time
}

// next decides what to log for o at now and returns the updated campaign.
// reread says that a new leader was announced since the last try.
func (c campaign) next(o outcome, now time.Time, reread bool) (campaign, campaignLog) {
	var l campaignLog
	if o == outcomeFailed {
		c.failing++
		c.unreported++
		switch {
		case c.failing == 1:
			c.failingSince, c.lastReport, c.unreported = now, now, 0
			l.firstFailure = true
		case now.Sub(c.lastReport) >= failureSummaryEvery:
			l.summary, l.count, l.since = true, c.unreported, c.failingSince
			c.lastReport, c.unreported = now, 0
		}
		return c, l
	}
	if c.failing > 0 {
		l.recovered, l.count, l.since = true, c.failing, c.failingSince
		c.failing, c.unreported, c.failingSince, c.lastReport = 0, 0, time.Time{}, time.Time{}
	}
	switch o {
	case outcomeObtained:
		c.standby = false
	case outcomeHeld:
		l.standby = !c.standby || reread
		c.standby = true
	}
	return c, l
}

// maxLeaderID bounds a replica id read back from Redis for a log line.
const maxLeaderID = 128

// leaderFromLease returns the replica id in a lease value (token ":" id, as
// obtain writes it), or false for anything else. The token part is never
// returned: it is what fencing compares against.
func leaderFromLease(value string) (string, bool) {
	i := strings.IndexByte(value, ':')
	if i <= 0 {
		return "", false
	}
	id := value[i+1:]
	if id == "" || len(id) > maxLeaderID {
		return "", false
	}
	for _, r := range id {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return "", false
		}
	}
	return id, true
}

// logCampaign performs l.
func (e *Elector) logCampaign(ctx context.Context, l campaignLog, err error) {
	log := e.cfg.Logger
	now := e.cfg.Clock.Now()
	switch {
	case l.firstFailure:
		log.Warn("lock: obtain failed", "err", err)
	case l.summary:
		log.Warn("lock: obtain still failing", "failures", l.count, "failing_for", now.Sub(l.since).String(), "err", err)
	case l.recovered:
		log.Info("lock: redis answers again", "failures", l.count, "failed_for", now.Sub(l.since).String())
	}
	if l.standby {
		if id, ok := e.readLeader(ctx); ok {
			log.Info("lock: standing by", "leader", id)
		} else {
			log.Info("lock: standing by", "leader", "unknown")
		}
	}
}

// readLeader reads who holds the lease, for the standby log line.
func (e *Elector) readLeader(ctx context.Context) (string, bool) {
	value, err := bounded(e, ctx, e.cfg.OpTimeout, func(ctx context.Context) (string, error) {
		return e.cfg.Client.Get(ctx, e.cfg.Key).Result()
	})
	if err != nil { // redis.Nil included: the lease just expired
		return "", false
	}
	return leaderFromLease(value)
}
