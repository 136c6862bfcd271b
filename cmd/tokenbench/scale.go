package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
)

// scaleReplicas is how many replicas run the scale figure.
const scaleReplicas = 2

// scaleFigures: opts.apps apps against the fake upstream (WeChat's real
// 2 h lifetime): time until every app has its first token, then the
// leader's RSS and CPU and Redis's commands per second in steady state.
func (b *bench) scaleFigures(ctx context.Context) error {
	n := b.opts.apps
	fetches0 := b.slow.Audit().TotalFetches
	cmd0 := fleet.CommandsProcessed(ctx, b.RDB)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d, ids, start, err := b.fillSlowApps(ctx, sctx, "sc", "app", n, scaleReplicas, 60*time.Second)
	if err != nil {
		return err
	}
	defer d.Stop()
	fill := time.Since(start)
	fillCPU := 0.0
	if l, _, err := d.Leader(ctx); err == nil && l != nil {
		if _, ticks, err := fleet.ProcStat(l.Proc.Pid()); err == nil {
			fillCPU = float64(ticks) / fleet.ClockTicks / fill.Seconds() * 100
		}
	}
	fillOps := float64(fleet.CommandsProcessed(ctx, b.RDB)-cmd0) / fill.Seconds()
	fetches := b.slow.Audit().TotalFetches - fetches0
	if missing, err := d.CountMissing(ctx, ids); err != nil || missing > 0 {
		return fmt.Errorf("%d apps without a token key after the fill (err %v)", missing, err)
	}
	leader, _, err := d.WaitLeader(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	time.Sleep(time.Second) // settle: log flushes, last status writes
	ss, err := fleet.SteadyState(ctx, b.RDB, leader.Proc.Pid(), b.opts.steady)
	if err != nil {
		return err
	}
	b.add(row{
		figure:  fmt.Sprintf("scale: first token for all %s apps (%d replicas)", figures.Int(int64(n)), scaleReplicas),
		tokend:  fmt.Sprintf("%s from process start (%s upstream fetches)", figures.Dur(fill), figures.Int(int64(fetches))),
		compare: fmt.Sprintf("%.0f fetches/s; leader CPU %.0f%% of one core meanwhile", float64(fetches)/fill.Seconds(), fillCPU),
		goal:    "-", status: statusNone,
	})
	b.add(row{
		figure: fmt.Sprintf("scale: leader RSS, %s apps, steady state", figures.Int(int64(n))),
		tokend: fmt.Sprintf("%.1f MB", float64(ss.RSS)/(1<<20)), goal: "<= 100 MB",
		status: goalStatus(ss.RSS <= 100<<20),
	})
	b.add(row{
		figure: "scale: leader CPU, steady state",
		tokend: fmt.Sprintf("%.2f%% of one core (%d ms CPU in %s)", ss.CPUPct(), ss.Ticks*1000/fleet.ClockTicks, figures.Dur(ss.Window)),
		goal:   "-", status: statusNone,
	})
	b.add(row{
		figure: "scale: Redis commands per second (incl. inside scripts)",
		tokend: fmt.Sprintf("%.0f /s steady", float64(ss.Commands)/ss.Window.Seconds()), compare: fmt.Sprintf("%.0f /s during the first fill", fillOps),
		goal: "-", status: statusNone,
	})
	return nil
}
