package refresher

import (
	"context"
	"sync"
	"time"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/store/event"
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
	// cooldown holds, for an app whose pending report the last check found
	// held by the cooldown, when the cooldown ends: reports before then
	// are coalesced without a Redis round trip.
	cooldown map[string]time.Time
	// hinted: a report of the app may be pending (event or poll);
	// hintRun: the running check was hinted.
	hinted, hintRun map[string]bool
	auditNext       int // index into cfg.Apps of the next app to audit
	results         chan checkResult
	wg              sync.WaitGroup
}

// lead is the lock.LeadFunc: it runs the schedule until ctx is cancelled,
// then waits for running checks. Leading() turns false the moment ctx is
// cancelled, before the running checks have drained.
func (r *Refresher) lead(ctx context.Context, term lock.Term) {
	r.mu.Lock()
	clear(r.published) // another leader may have written statuses meanwhile
	r.mu.Unlock()
	r.setTerm(term)
	r.cfg.Observer.Leading(true, term.Epoch)
	ended := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { defer close(ended); r.endTerm(term) })
	defer func() {
		if stop() {
			r.endTerm(term)
		} else {
			<-ended
		}
	}()
	l := &leaderRun{
		r: r, term: term,
		sched:    newSchedule(),
		inflight: map[string]bool{},
		recheck:  map[string]bool{},
		attempts: map[string]int{},
		blocked:  map[string]time.Time{},
		cooldown: map[string]time.Time{},
		hinted:   map[string]bool{},
		hintRun:  map[string]bool{},
		results:  make(chan checkResult),
	}
	defer l.wg.Wait()
	l.loop(ctx)
}

func (l *leaderRun) loop(ctx context.Context) {
	clk := l.r.cfg.Clock
	events, unsubscribe := l.r.subscribe(ctx)
	defer unsubscribe()

	now := clk.Now()
	for _, a := range l.r.cfg.Apps { // sweep: every app is checked at once
		l.sched.set(a.ID, now)
		l.hinted[a.ID] = true
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
		case n, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			switch {
			case n.Kind == event.KindEvent && n.Event.Type == event.Report:
				l.reported(n.Event.App)
			case n.Kind == event.KindSubscribed && n.Again:
				// The subscription came back: Redis restarted or failed
				// over and may have lost the newest writes. Every app is
				// re-checked once, as on gaining leadership, so a lost
				// token is written again now, not at its next audit.
				for _, a := range l.r.cfg.Apps {
					l.wake(a.ID)
				}
			}
		case res := <-l.results:
			l.finish(res)
		case <-poll.C():
			l.pollReports(ctx)
			l.sweep(ctx)
		case <-timer.C():
		}
	}
}

// EventSource is what the refresher needs of a shared subscription to the
// events channel; *event.Hub satisfies it.
type EventSource interface {
	Subscribe() *event.Subscription
}

// subscribe follows the events channel for one term: through
// Config.Events, or a hub of its own over Store.Subscribe that runs until
// the returned func is called. A nil channel (never ready) when the hub
// cannot start: reports are still polled.
func (r *Refresher) subscribe(ctx context.Context) (<-chan event.Notice, func()) {
	if r.cfg.Events != nil {
		sub := r.cfg.Events.Subscribe()
		return sub.C(), sub.Close
	}
	hub, err := event.NewHub(event.HubConfig{Subscribe: r.cfg.Store.Subscribe, Logger: r.cfg.Logger})
	if err != nil {
		r.cfg.Logger.Error("refresher: cannot listen for report events", "err", err)
		return nil, func() {}
	}
	sub := hub.Subscribe()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hub.Run(ctx)
	}()
	return sub.C(), func() {
		sub.Close()
		cancel()
		<-done
	}
}

// reported handles a report of app (event or poll). While the last check
// found the report held by the cooldown, nothing is done: that check
// already scheduled the app for the cooldown's end.
func (l *leaderRun) reported(app string) {
	if _, ok := l.r.apps[app]; !ok {
		return
	}
	if until, ok := l.cooldown[app]; ok && until.After(l.r.cfg.Clock.Now()) {
		return
	}
	l.hinted[app] = true
	l.wake(app)
}

// wake schedules an app's check now (or right after the running one, or
// when its failure's retry time allows).
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
		app, attempts, hint := l.r.apps[id], l.attempts[id], l.hinted[id]
		delete(l.hinted, id)
		l.hintRun[id] = hint
		go func() {
			defer l.wg.Done()
			res := l.r.check(ctx, l.term, app, attempts, hint)
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
	if l.hintRun[res.app] && (res.failed || !res.cooldownUntil.IsZero()) {
		// The report is still pending: the next check must read it.
		l.hinted[res.app] = true
	}
	delete(l.hintRun, res.app)
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
	if res.cooldownUntil.IsZero() {
		delete(l.cooldown, res.app)
	} else {
		l.cooldown[res.app] = res.cooldownUntil
	}
	if l.recheck[res.app] {
		delete(l.recheck, res.app)
		l.reported(res.app)
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
