package refresher

import (
	"context"
	"sync"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/internal/board"
	"github.com/tokend/tokend/store/event"
)

// leaderRun is one term: the loop and the checks it runs. Only the loop
// goroutine touches the board; checks talk back through results.
type leaderRun struct {
	r         *Refresher
	term      lock.Term
	board     *board.Board
	auditNext int // index into cfg.Apps of the next app to audit
	results   chan checkResult
	wg        sync.WaitGroup
}

// lead is the lock.LeadFunc: it runs the schedule until ctx is cancelled,
// then waits for running checks. Leading() turns false the moment ctx is
// cancelled, before the running checks have drained.
func (r *Refresher) lead(ctx context.Context, term lock.Term) {
	r.mem.ForgetPublished() // another leader may have written statuses meanwhile
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
		r: r, term: term, results: make(chan checkResult),
		board: board.New(r.ids, r.children, r.cfg.Clock.Now()), // the sweep: every app is checked at once
	}
	defer l.wg.Wait()
	r.startProbes(ctx, &l.wg)
	r.startTending(ctx, &l.wg)
	l.loop(ctx)
}

func (l *leaderRun) loop(ctx context.Context) {
	clk := l.r.cfg.Clock
	events, unsubscribe := l.r.subscribe(ctx)
	defer unsubscribe()

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
		timer.Reset(l.board.NextIn(clk.Now(), l.r.cfg.Workers, l.r.cfg.ReportPoll))
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
				l.board.Reported(n.Event.App, clk.Now())
			case n.Kind == event.KindEvent && n.Event.Type == event.Token:
				l.board.ParentWritten(n.Event.App, clk.Now())
			case n.Kind == event.KindEvent && n.Event.Type == event.Input:
				l.board.Wake(n.Event.App, clk.Now()) // a pushed input: a waiting credential may fetch
			case n.Kind == event.KindSubscribed && n.Again:
				// The subscription came back: Redis restarted or failed
				// over and may have lost the newest writes. Every app is
				// re-checked once, as on gaining leadership, so a lost
				// token is written again now, not at its next audit.
				l.wakeAll(l.r.ids)
			}
		case res := <-l.results:
			l.board.Finish(res, clk.Now())
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

// wakeAll wakes every app of ids.
func (l *leaderRun) wakeAll(ids []string) {
	now := l.r.cfg.Clock.Now()
	for _, id := range ids {
		l.board.Wake(id, now)
	}
}

// dispatch starts checks of due apps, at most Workers at a time.
func (l *leaderRun) dispatch(ctx context.Context) {
	for {
		id, attempts, hint, ok := l.board.Start(l.r.cfg.Clock.Now(), l.r.cfg.Workers)
		if !ok {
			return
		}
		l.wg.Add(1)
		done := l.r.checking(id) // until the loop has the result
		go func() {
			defer l.wg.Done()
			defer done()
			res := l.r.check(ctx, l.term, l.r.apps[id], attempts, hint)
			select {
			case l.results <- res:
			case <-ctx.Done():
			}
		}()
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
