package main

import (
	"context"
	"fmt"

	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/cmd/tokenbench/internal/storm"
)

func (b *bench) stormConfig() storm.Config {
	return storm.Config{Env: &b.Env, Fake: b.slow, App: stormApp, Reports: b.opts.reports, Conns: b.opts.conns}
}

// httpStorm: opts.reports POST /v1/apps/storm/refresh of one token, spread
// over the replicas, through opts.conns connections.
func (b *bench) httpStorm(ctx context.Context, d *fleet.Deployment) error {
	res, err := storm.HTTP(ctx, b.stormConfig(), d)
	if res != nil {
		b.stormRow(res, fmt.Sprintf("report storm over HTTP: %s reports, %d conns, %d replicas",
			figures.Int(int64(b.opts.reports)), b.opts.conns, len(d.Reps)),
			fmt.Sprintf("%s answered \"refreshed\": false; %s reports reached Redis",
				figures.Int(int64(res.Immediate)), figures.Int(res.Reached)))
	}
	return err
}

// libraryStorm: opts.reports goroutines over storm.Readers Readers each
// call ReportInvalid with the same token, then wait until their Reader
// serves a new one.
func (b *bench) libraryStorm(ctx context.Context, d *fleet.Deployment) error {
	res, err := storm.Library(ctx, b.stormConfig(), d)
	if res != nil {
		b.stormRow(res, fmt.Sprintf("report storm via Reader.ReportInvalid: %s reporters, %d Readers",
			figures.Int(int64(b.opts.reports)), storm.Readers), fmt.Sprintf("%s reports reached Redis", figures.Int(res.Reached)))
	}
	return err
}

// stormRow adds a storm's row; other than exactly one fetch, a dead or
// stale token, or a failed reporter breaks an invariant.
func (b *bench) stormRow(res *storm.Result, figure, compare string) {
	st := statusOK
	if res.Fetches != 1 {
		st = statusFail
		b.fail("%s: %d upstream fetches, want 1", figure, res.Fetches)
	}
	if n := res.Dead.Load() + res.Stale.Load(); n > 0 {
		st = statusFail
		b.fail("%s: %d reporters ended with the reported or a dead token", figure, n)
	}
	if n := res.Errs.Load(); n > 0 {
		st = statusFail
		b.fail("%s: %d reporters failed, first: %v", figure, n, res.FirstErr.Load())
	}
	b.add(row{
		figure: figure,
		tokend: fmt.Sprintf("%d fetch (at +%s); reporters hold the new token: p50 %s, p99 %s, all %s",
			res.Fetches, figures.Dur(res.FetchAt), figures.Dur(res.Lat.Pct(50)), figures.Dur(res.Lat.Pct(99)), figures.Dur(res.Lat.Max())),
		compare: compare, goal: "1 fetch per storm", status: st,
	})
}
