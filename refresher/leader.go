package refresher

import (
	"context"
	"sync"
	"time"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/store"
)

// leaderRun is one term's scheduling state. Only the loop goroutine touches
// its maps; workers talk back through results.
type leaderRun struct {
	r        *Refresher
	term     lock.Term
	sched    *schedule       // next check of every app not running
	inflight map[string]bool // a check is running
	running  int             // len of the true entries of inflight
	recheck  map[string]bool // an event arrived while running
	attempts map[string]int  // consecutive transient failures
	// blocked holds, after a failed check, when the error class allows the
	// next attempt (backoff, slow retry, quota day): reports do not wake the
	// app earlier.
	blocked map[string]time.Time
	results chan checkResult
	wg      sync.WaitGroup
}

// lead is the lock.LeadFunc: it runs the schedule until ctx is cancelled,
// then waits for running checks.
func (r *Refresher) lead(ctx context.Context, term lock.Term) {
	r.setTerm(term)
	r.cfg.Observer.Leading(true, term.Epoch)
	defer func() {
		r.setTerm(lock.Term{})
		r.cfg.Observer.Leading(false, term.Epoch)
	}()
	l := &leaderRun{
		r: r, term: term,
		sched:    newSchedule(),
		inflight: map[string]bool{},
		recheck:  map[string]bool{},
		attempts: map[string]int{},
		blocked:  map[string]time.Time{},
		results:  make(chan checkResult),
	}
	defer l.wg.Wait()
	l.loop(ctx)
}

func (l *leaderRun) loop(ctx context.Context) {
	clk := l.r.cfg.Clock
	sub := l.r.cfg.Store.Subscribe(ctx)
	defer sub.Close()
	events := sub.Channel()

	now := clk.Now()
	for _, a := range l.r.cfg.Apps { // sweep: every app is checked at once
		l.sched.set(a.ID, now)
	}
	poll := clk.NewTicker(l.r.cfg.ReportPoll)
	defer poll.Stop()
	timer := clk.NewTimer(0)
	defer timer.Stop()
	for {
		l.dispatch(ctx)
		if !timer.Stop() {
			select { // drain a fire we did not consume
			case <-timer.C():
			default:
			}
		}
		timer.Reset(l.nextWake())
		select {
		case <-ctx.Done():
			l.drain()
			return
		case msg, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev, err := store.ParseEvent(msg.Payload); err == nil && ev.Type == store.EventReport {
				l.wake(ev.App)
			}
		case res := <-l.results:
			l.finish(res)
		case <-poll.C():
			l.pollReports(ctx)
			l.sweep()
		case <-timer.C():
		}
	}
}

// wake schedules an app's check now (or right after the running one).
func (l *leaderRun) wake(app string) {
	if _, ok := l.r.apps[app]; !ok {
		return
	}
	if l.inflight[app] {
		l.recheck[app] = true
		return
	}
	at := l.r.cfg.Clock.Now()
	if until, ok := l.blocked[app]; ok && until.After(at) {
		at = until
	}
	if cur, ok := l.sched.at(app); ok && !cur.After(at) {
		return // already due as early
	}
	l.sched.set(app, at)
}

func (l *leaderRun) pollReports(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, l.r.cfg.FetchTimeout)
	defer cancel()
	reports, err := l.r.cfg.Store.PendingReports(rctx)
	if err != nil {
		l.r.cfg.Logger.Warn("refresher: read pending reports", "err", err)
		return
	}
	for app := range reports {
		// Reports of apps this replica does not know are left alone: in a
		// rolling config change the next leader may know them.
		l.wake(app)
	}
}

// sweep re-checks every app: a token key lost to eviction, a DEL or a
// failover is noticed within ReportPoll, not at the app's next due time.
func (l *leaderRun) sweep() {
	for _, a := range l.r.cfg.Apps {
		l.wake(a.ID)
	}
}

// nextWake is how long until the earliest scheduled app, at most
// ReportPoll. With every worker busy, a result wakes the loop instead.
func (l *leaderRun) nextWake() time.Duration {
	next := l.r.cfg.ReportPoll
	if e, ok := l.sched.peek(); ok && l.running < l.r.cfg.Workers {
		next = min(next, e.at.Sub(l.r.cfg.Clock.Now()))
	}
	return max(next, 0)
}

// dispatch starts checks of due apps, at most Workers at a time.
func (l *leaderRun) dispatch(ctx context.Context) {
	now := l.r.cfg.Clock.Now()
	for l.running < l.r.cfg.Workers {
		id, ok := l.sched.popDue(now)
		if !ok {
			return
		}
		l.inflight[id] = true
		l.running++
		l.wg.Add(1)
		app, attempts := l.r.apps[id], l.attempts[id]
		go func() {
			defer l.wg.Done()
			res := l.r.check(ctx, l.term, app, attempts)
			select {
			case l.results <- res:
			case <-ctx.Done():
			}
		}()
	}
}

// finish records a check's result and schedules the app's next check.
func (l *leaderRun) finish(res checkResult) {
	delete(l.inflight, res.app)
	l.running--
	if res.transient {
		l.attempts[res.app]++
	} else {
		l.attempts[res.app] = 0
	}
	l.sched.set(res.app, res.next)
	if res.failed {
		l.blocked[res.app] = res.next
	} else {
		delete(l.blocked, res.app)
	}
	if l.recheck[res.app] {
		l.recheck[res.app] = false
		l.wake(res.app)
	}
}

// drain waits for running checks, consuming their results.
func (l *leaderRun) drain() {
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	for {
		select {
		case <-l.results:
		case <-done:
			return
		}
	}
}
