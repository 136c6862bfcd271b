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
	due      map[string]time.Time // next check per app
	inflight map[string]bool      // a check is running
	recheck  map[string]bool      // an event arrived while running
	attempts map[string]int       // consecutive transient failures
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
		due:      map[string]time.Time{},
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
		l.due[a.ID] = now
	}
	poll := clk.NewTicker(l.r.cfg.ReportPoll)
	defer poll.Stop()
	timer := clk.NewTimer(0)
	defer timer.Stop()
	for {
		l.dispatch(ctx)
		timer.Stop()
		timer = clk.NewTimer(l.nextWake())
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
	l.due[app] = l.r.cfg.Clock.Now()
	if until, ok := l.blocked[app]; ok && until.After(l.due[app]) {
		l.due[app] = until
	}
}

func (l *leaderRun) pollReports(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, l.r.cfg.FetchTimeout)
	defer cancel()
	reports, err := l.r.cfg.Store.PendingReports(rctx)
	if err != nil {
		l.r.cfg.Logger.Warn("refresher: read pending reports", "err", err)
		return
	}
	for app, tok := range reports {
		if _, ok := l.r.apps[app]; !ok {
			// Not ours: drop it so it cannot pile up.
			_, _ = l.r.cfg.Store.ClearReport(rctx, app, tok)
			continue
		}
		l.wake(app)
	}
}

// nextWake is how long until the earliest due app that is not running.
func (l *leaderRun) nextWake() time.Duration {
	now := l.r.cfg.Clock.Now()
	next := l.r.cfg.ReportPoll
	for app, at := range l.due {
		if l.inflight[app] {
			continue
		}
		if d := at.Sub(now); d < next {
			next = d
		}
	}
	return max(next, 0)
}

// dispatch starts checks of due apps, at most Workers at a time.
func (l *leaderRun) dispatch(ctx context.Context) {
	now := l.r.cfg.Clock.Now()
	running := 0
	for _, v := range l.inflight {
		if v {
			running++
		}
	}
	for _, a := range l.r.cfg.Apps {
		if running >= l.r.cfg.Workers {
			return
		}
		if l.inflight[a.ID] || l.due[a.ID].After(now) {
			continue
		}
		l.inflight[a.ID] = true
		running++
		l.wg.Add(1)
		attempts := l.attempts[a.ID]
		go func(app App) {
			defer l.wg.Done()
			res := l.r.check(ctx, l.term, app, attempts)
			select {
			case l.results <- res:
			case <-ctx.Done():
			}
		}(a)
	}
}

// finish records a check's result and schedules the app's next check.
func (l *leaderRun) finish(res checkResult) {
	l.inflight[res.app] = false
	if res.transient {
		l.attempts[res.app]++
	} else {
		l.attempts[res.app] = 0
	}
	l.due[res.app] = res.next
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
