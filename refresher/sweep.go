package refresher

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// existsBatch is the most token keys one EXISTS of the sweep names.
const existsBatch = 1000

// auditPeriod is how long one round of audits takes: each poll re-reads
// the records of len(apps)*ReportPoll/auditPeriod apps (at least one), so
// that a write Redis lost in a failover while the lease survived is found
// (and written again) without waiting for the app's due time.
const auditPeriod = 2 * time.Hour

// pollReports reads the pending reports of the configured apps (one HMGET
// per 1000 apps: ghost fields of unknown ids cost nothing) and handles each
// like a report event; then it removes a bounded step of ghost fields.
func (l *leaderRun) pollReports(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, l.r.cfg.FetchTimeout)
	defer cancel()
	reports, err := l.r.cfg.Store.PendingReportsFor(rctx, l.r.ids)
	if err != nil {
		if ctx.Err() == nil {
			l.r.logs.Warn(slog.LevelWarn, "pending-reports", "refresher: read pending reports", "err", err)
		}
		return
	}
	l.r.logs.OK("pending-reports", "refresher: pending reports readable again")
	now := l.r.cfg.Clock.Now()
	for app := range reports {
		l.board.Reported(app, now)
	}
	// Reports of ids no replica serves (ghosts, which anyone with the
	// reader ACL can add) are removed, one HSCAN step per poll. During a
	// rolling config change a report for an app only the next config knows
	// may go too: its reporter reports again.
	if n, err := l.r.cfg.Store.PruneReports(rctx, l.r.ids); err != nil && ctx.Err() == nil {
		l.r.logs.Warn(slog.LevelWarn, "prune-reports", "refresher: remove reports of unknown apps", "err", err)
	} else if n > 0 {
		l.r.cfg.Logger.Info("refresher: removed reports of unknown apps", "removed", n)
	}
}

// sweep notices token keys lost to eviction, a DEL or a failover within
// ReportPoll: one EXISTS per batch of apps whose key should live; only a
// batch with a shortfall has its apps re-checked. It also audits a few
// apps' records. A Store without TokenKeyCounter re-checks every app.
func (l *leaderRun) sweep(ctx context.Context) {
	counter, ok := l.r.cfg.Store.(TokenKeyCounter)
	if !ok {
		l.wakeAll(l.r.ids)
		return
	}
	// Keys that may expire before the next poll are left out: those apps
	// are due (or failing) and checked anyway.
	safe := l.r.cfg.Clock.Now().Add(2 * l.r.cfg.ReportPoll)
	batch := make([]string, 0, min(existsBatch, len(l.r.cfg.Apps)))
	for _, a := range l.r.cfg.Apps {
		if l.board.Running(a.ID) || !l.r.mem.KeyUntil(a.ID).After(safe) {
			continue
		}
		if batch = append(batch, a.ID); len(batch) == existsBatch {
			if !l.countKeys(ctx, counter, batch) {
				return
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 && !l.countKeys(ctx, counter, batch) {
		return
	}
	l.audit()
}

// countKeys checks that every app of batch has its token key; on a
// shortfall each is re-checked. It returns false when Redis failed.
func (l *leaderRun) countKeys(ctx context.Context, counter TokenKeyCounter, batch []string) bool {
	rctx, cancel := context.WithTimeout(ctx, l.r.cfg.FetchTimeout)
	defer cancel()
	n, err := counter.CountTokenKeys(rctx, batch)
	if redis.HasErrorPrefix(err, "NOPERM") {
		// An ACL without EXISTS: re-check the batch's apps one by one.
		l.r.logs.Warn(slog.LevelWarn, "count-keys-noperm", "refresher: EXISTS not allowed by the Redis ACL; sweeping app by app (add +exists)", "err", err)
		l.wakeAll(batch)
		return true
	}
	if err != nil {
		if ctx.Err() == nil {
			l.r.logs.Warn(slog.LevelWarn, "count-keys", "refresher: count token keys", "err", err)
		}
		return false
	}
	l.r.logs.OK("count-keys", "refresher: token keys countable again")
	if n < len(batch) {
		l.wakeAll(batch)
	}
	return true
}

// audit wakes the next few apps in turn (see auditPeriod).
func (l *leaderRun) audit() {
	apps := l.r.cfg.Apps
	k := int((int64(len(apps))*int64(l.r.cfg.ReportPoll) + int64(auditPeriod) - 1) / int64(auditPeriod))
	for range min(max(k, 1), len(apps)) {
		l.auditNext %= len(apps)
		l.board.Wake(apps[l.auditNext].ID, l.r.cfg.Clock.Now())
		l.auditNext++
	}
}
