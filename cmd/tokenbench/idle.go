package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
)

// idleReplicas is how many replicas run the idle-cost figure.
const idleReplicas = 3

// idleGoal is the idle-cost goal (issue 11 item 11): Redis commands a
// second for opts.idleApps idle apps beyond the refresh work itself.
const idleGoal = 20.0

// idleFigure: opts.idleApps apps with WeChat's 2 h lifetime on 3 replicas
// with default timings. Once every app has its token and the sweeps have
// settled, nothing is due: every Redis command in the window is idle cost.
// Commands are counted from INFO commandstats (commands inside scripts
// included) and total_commands_processed, the bench's own INFO excluded
// (so is MONITOR, which itself adds no commands),
// and attributed to replicas through MONITOR and the replicas' sockets.
func (b *bench) idleFigure(ctx context.Context) error {
	n := b.opts.idleApps
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d, _, start, err := b.fillSlowApps(ctx, sctx, "id", "idle", n, idleReplicas, 90*time.Second)
	if err != nil {
		return err
	}
	defer d.Stop()
	b.logf("idle: %d apps filled in %s; settling %s", n, time.Since(start).Round(time.Millisecond), b.opts.idleSettle)
	if err := fleet.Sleep(ctx, b.opts.idleSettle); err != nil {
		return err
	}
	writes, err := d.CountWrites(sctx)
	if err != nil {
		return err
	}
	mon, err := fleet.StartMonitor(ctx, b.RedisURL)
	if err != nil {
		return err
	}
	defer mon.Close()
	c0, err := commandStats(ctx, b)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := fleet.Sleep(ctx, b.opts.idleWindow); err != nil {
		return err
	}
	c1, err := commandStats(ctx, b)
	if err != nil {
		return err
	}
	window := time.Since(t0)
	perClient := mon.Stop()
	inside, processed := c1.all-c0.all, c1.processed-c0.processed
	rate := float64(inside) / window.Seconds()
	b.add(row{
		figure: fmt.Sprintf("idle cost: %s idle apps, %d replicas, default timings, measured over %s",
			figures.Int(int64(n)), idleReplicas, figures.Dur(window)),
		tokend: fmt.Sprintf("%.1f Redis commands/s (commandstats, incl. inside scripts; total_commands_processed %.1f /s)",
			rate, float64(processed)/window.Seconds()),
		compare: fmt.Sprintf("per replica: %s; %d token writes in the window", fleet.PerReplica(d, b.RedisURL, perClient, window), writes()),
		goal:    fmt.Sprintf("<= %.0f /s over >= 2m", idleGoal), status: idleStatus(rate, window),
	})
	return nil
}

// idleStatus: the goal holds only for a window of at least 2 minutes
// (longer than a few 30 s sweeps).
func idleStatus(rate float64, window time.Duration) string {
	if window < 2*time.Minute {
		return statusNone
	}
	return goalStatus(rate <= idleGoal)
}

// cmdCounts is a snapshot of Redis's command counters.
type cmdCounts struct {
	all       int64 // sum of commandstats calls (inside scripts included)
	processed int64 // total_commands_processed (Redis 7 counts script commands too)
}

// commandStats reads the counters, leaving out the bench's own INFO calls.
func commandStats(ctx context.Context, b *bench) (cmdCounts, error) {
	c, err := fleet.CommandStats(ctx, b.RDB)
	if err != nil {
		return cmdCounts{}, err
	}
	return cmdCounts{all: c.Total(), processed: fleet.CommandsProcessed(ctx, b.RDB) - c.Bench()}, nil
}
