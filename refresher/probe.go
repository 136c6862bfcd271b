package refresher

import (
	"context"
	"sync"

	"github.com/tokend/tokend/refresher/internal/probe"
	"github.com/tokend/tokend/refresher/upstream"
)

// probeWorkers bounds concurrent probes, besides the Workers of checks: a
// probe is one cheap call, and never urgent.
const probeWorkers = 2

// Probe outcomes (AppState.Probe, Observer.Probed).
const (
	probeOK       = "ok"
	probeRejected = "rejected"
	probeFailed   = "failed"
)

// startProbes runs the term's probes (package probe decides when) until
// ctx ends, in a goroutine counted by wg. A token is not probed while its
// check runs.
func (r *Refresher) startProbes(ctx context.Context, wg *sync.WaitGroup) {
	var targets []probe.Target
	for _, a := range r.cfg.Apps {
		if a.ProbeEvery > 0 {
			targets = append(targets, probe.Target{ID: a.ID, Every: a.ProbeEvery})
		}
	}
	if len(targets) == 0 {
		return
	}
	cfg := probe.Config{
		Targets: targets, Workers: min(probeWorkers, r.cfg.Workers), Busy: r.isChecking, Retry: r.cfg.RetryMin,
		Probe: func(ctx context.Context, id string) { r.probe(ctx, r.apps[id]) }, Clock: r.cfg.Clock,
	}
	wg.Add(1)
	go func() { defer wg.Done(); probe.Run(ctx, cfg) }()
}

// probe checks app's stored token with its Prober, bounded by
// FetchTimeout. A rejected token is reported like a business app's report
// (compare-and-refresh: a token replaced meanwhile is a stale report, and
// the report event wakes the leader); any other error says nothing about
// the token and is logged once per change.
func (r *Refresher) probe(ctx context.Context, app App) {
	pctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	rec, err := r.cfg.Store.Record(pctx, app.ID)
	if err != nil || !rec.Valid() {
		return // the app's own check sees to it
	}
	err = app.Prober.Probe(pctx, rec.Token)
	if ctx.Err() != nil {
		return // leadership ended: not the token's fault
	}
	outcome, msg := probeOK, ""
	switch {
	case err == nil:
	case upstream.ClassOf(err) == upstream.ClassTokenRejected:
		outcome = probeRejected
		r.cfg.Logger.Warn("refresher: probe: the upstream rejected the stored token; reported it", "app", app.ID,
			"fingerprint", Fingerprint(rec.Token), "err", err)
		r.fileReport(ctx, app, app.ID, rec.Token)
	default:
		outcome, msg = probeFailed, err.Error()
	}
	r.cfg.Observer.Probed(app.ID, outcome)
	var prev string
	st := r.updateState(app.ID, func(s *AppState) {
		prev = s.ProbeError
		s.Probe, s.ProbeError, s.LastProbe = outcome, msg, r.cfg.Clock.Now()
	})
	switch {
	case msg != "" && msg != prev:
		r.cfg.Logger.Warn("refresher: probe failed; it says nothing about the token", "app", app.ID, "err", err)
	case msg == "" && prev != "":
		r.cfg.Logger.Info("refresher: probe answers again", "app", app.ID)
	}
	r.publishStatus(ctx, st)
}

// checking marks app's check as running until the returned func is
// called (probes wait for it).
func (r *Refresher) checking(app string) (done func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running[app] = true
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.running, app)
	}
}

func (r *Refresher) isChecking(app string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[app]
}
