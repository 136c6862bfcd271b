package refresher

import (
	"context"
	"sync"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
)

// waitInput is the waiting state of a credential whose provider (an
// upstream.Gate) has no usable pushed input: the Open Platform's
// component token before its first component_verify_ticket, or after the
// upstream refused the stored one (61005/61006).
const waitInput = "input"

// gated asks app's provider, if it is an upstream.Gate, whether a fetch
// may be made. When not (wait true), no fetch ticket is taken and no
// budget is used: the credential waits for the input and is checked again
// after ReportPoll; res is the check's result.
func (r *Refresher) gated(ctx context.Context, app App, attempts int, now, redisNow time.Time) (res checkResult, wait bool) {
	g, ok := app.Provider.(upstream.Gate)
	if !ok {
		return checkResult{}, false
	}
	rd, err := g.Ready(ctx)
	if err != nil {
		return r.failed(ctx, app, err, attempts, now, redisNow, false), true
	}
	if rd.Ready {
		return checkResult{}, false
	}
	r.logs.Warn(infoLevel, "input:"+app.ID, "refresher: waiting for a pushed input before fetching", "app", app.ID,
		"waiting_for", rd.WaitingFor)
	return r.scheduled(ctx, app, now.Add(r.cfg.ReportPoll), waiting{state: waitInput, what: rd.WaitingFor}), true
}

// inputRefused: the upstream refused the pushed input the fetch was made
// with (upstream.ClassInput). Not retried: the provider's Gate holds
// fetches until a new input arrives; the check looks again after
// ReportPoll. The error stays in status until a fetch succeeds.
func (r *Refresher) inputRefused(ctx context.Context, app App, err error, now time.Time) checkResult {
	code, class := upstreamCode(err)
	r.logs.Warn(warnLevel, "upstream:"+app.ID, "refresher: the upstream refused the pushed input; waiting for the next push",
		"app", app.ID, "err", err, "errcode", code)
	r.updateState(app.ID, func(s *AppState) { s.LastError, s.LastErrorCode, s.LastErrorClass = err.Error(), code, class })
	return r.scheduled(ctx, app, now.Add(r.cfg.ReportPoll), waiting{state: waitInput, what: "a new push"})
}

// startTending calls Tend of every Gate provider every min(ReportPoll,
// the shortest TendEvery) until ctx ends (the term), in a goroutine counted by wg; each call is
// bounded by FetchTimeout, and an error is logged once per change.
func (r *Refresher) startTending(ctx context.Context, wg *sync.WaitGroup) {
	var gated []App
	every := r.cfg.ReportPoll
	for _, a := range r.cfg.Apps {
		if g, ok := a.Provider.(upstream.Gate); ok {
			gated = append(gated, a)
			if e := g.TendEvery(); e > 0 {
				every = min(every, e)
			}
		}
	}
	if len(gated) == 0 {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := r.cfg.Clock.NewTicker(every)
		defer t.Stop()
		for {
			for _, a := range gated {
				r.tend(ctx, a)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			}
		}
	}()
}

func (r *Refresher) tend(ctx context.Context, app App) {
	tctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	if err := app.Provider.(upstream.Gate).Tend(tctx); err != nil {
		if ctx.Err() == nil {
			r.logs.Warn(warnLevel, "tend:"+app.ID, "refresher: tending the pushed input failed", "app", app.ID, "err", err)
		}
		return
	}
	r.logs.OK("tend:"+app.ID, "refresher: tending the pushed input works again", "app", app.ID)
}
