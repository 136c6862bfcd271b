package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/store/event"
)

// scaleReplicas is how many replicas run the scale figure.
const scaleReplicas = 2

// scaleFigures: opts.apps apps against the fake upstream (WeChat's real
// 2 h lifetime): time until every app has its first token, then the
// leader's RSS and CPU and Redis's commands per second in steady state.
func (b *bench) scaleFigures(ctx context.Context) error {
	n := b.opts.apps
	ids, d, err := b.slowAppsDeployment("sc", "app", n)
	if err != nil {
		return err
	}
	defer d.Stop()
	fetches0 := b.slow.Audit().TotalFetches
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	all, err := b.countTokenEvents(sctx, d, n)
	if err != nil {
		return err
	}
	cmd0 := fleet.CommandsProcessed(ctx, b.RDB)
	start := time.Now()
	if err := d.StartReplicas(ctx, scaleReplicas, 60*time.Second); err != nil {
		return err
	}
	limit := max(60*time.Second, time.Duration(n)*10*time.Millisecond)
	select {
	case <-all:
	case <-time.After(limit):
		return fmt.Errorf("not every app had a token within %s", limit)
	case <-ctx.Done():
		return ctx.Err()
	}
	fill := time.Since(start)
	fillCPU := 0.0
	if l, _, err := d.Leader(ctx); err == nil && l != nil {
		if _, ticks, err := fleet.ProcStat(l.Proc.Pid()); err == nil {
			fillCPU = float64(ticks) / fleet.ClockTicks / fill.Seconds() * 100
		}
	}
	fillOps := float64(fleet.CommandsProcessed(ctx, b.RDB)-cmd0) / fill.Seconds()
	fetches := b.slow.Audit().TotalFetches - fetches0
	if missing, err := countMissing(ctx, d, ids); err != nil || missing > 0 {
		return fmt.Errorf("%d apps without a token key after the fill (err %v)", missing, err)
	}
	leader, _, err := d.WaitLeader(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	time.Sleep(time.Second) // settle: log flushes, last status writes
	ss, err := b.steadyState(ctx, leader.Proc.Pid())
	if err != nil {
		return err
	}
	b.add(row{
		figure:  fmt.Sprintf("scale: first token for all %s apps (%d replicas)", fmtInt(int64(n)), scaleReplicas),
		tokend:  fmt.Sprintf("%s from process start (%s upstream fetches)", fmtDur(fill), fmtInt(int64(fetches))),
		compare: fmt.Sprintf("%.0f fetches/s; leader CPU %.0f%% of one core meanwhile", float64(fetches)/fill.Seconds(), fillCPU),
		goal:    "-", status: statusNone,
	})
	b.add(row{
		figure: fmt.Sprintf("scale: leader RSS, %s apps, steady state", fmtInt(int64(n))),
		tokend: fmt.Sprintf("%.1f MB", float64(ss.rss)/(1<<20)), goal: "<= 100 MB",
		status: goalStatus(ss.rss <= 100<<20),
	})
	b.add(row{
		figure: "scale: leader CPU, steady state",
		tokend: fmt.Sprintf("%.2f%% of one core (%d ms CPU in %s)", ss.cpuPct(), ss.ticks*1000/fleet.ClockTicks, fmtDur(ss.window)),
		goal:   "-", status: statusNone,
	})
	b.add(row{
		figure: "scale: Redis commands per second (incl. inside scripts)",
		tokend: fmt.Sprintf("%.0f /s steady", float64(ss.commands)/ss.window.Seconds()), compare: fmt.Sprintf("%.0f /s during the first fill", fillOps),
		goal: "-", status: statusNone,
	})
	return nil
}

// steady is a steady-state sample of the leader and Redis.
type steady struct {
	rss             int64 // max VmRSS seen, bytes
	ticks, commands int64 // CPU ticks of the leader, Redis commands
	window          time.Duration
}

func (s steady) cpuPct() float64 {
	return float64(s.ticks) / fleet.ClockTicks / s.window.Seconds() * 100
}

// steadyState samples pid's RSS and CPU and Redis's commands over
// opts.steady.
func (b *bench) steadyState(ctx context.Context, pid int) (steady, error) {
	rss0, ticks0, err := fleet.ProcStat(pid)
	if err != nil {
		return steady{}, err
	}
	cmd0, t0 := fleet.CommandsProcessed(ctx, b.RDB), time.Now()
	select {
	case <-time.After(b.opts.steady):
	case <-ctx.Done():
		return steady{}, ctx.Err()
	}
	rss1, ticks1, err := fleet.ProcStat(pid)
	if err != nil {
		return steady{}, err
	}
	return steady{
		rss: max(rss0, rss1), ticks: ticks1 - ticks0,
		commands: fleet.CommandsProcessed(ctx, b.RDB) - cmd0, window: time.Since(t0),
	}, nil
}

// countTokenEvents subscribes to d's events channel and returns a channel
// closed once n distinct apps had a token written. The subscription ends
// with ctx or then.
func (b *bench) countTokenEvents(ctx context.Context, d *fleet.Deployment, n int) (<-chan struct{}, error) {
	sub := b.RDB.Subscribe(ctx, d.Store.Keys().Events())
	if _, err := sub.Receive(ctx); err != nil { // the subscribe confirmation
		sub.Close()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	all := make(chan struct{})
	go func() {
		defer sub.Close()
		seen := make(map[string]bool, n)
		for len(seen) < n {
			msg, err := sub.ReceiveMessage(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if ev, err := event.Parse(msg.Payload); err == nil && ev.Type == event.Token {
				seen[ev.App] = true
			}
		}
		close(all)
	}()
	return all, nil
}

// countMissing counts ids whose token key does not exist.
func countMissing(ctx context.Context, d *fleet.Deployment, ids []string) (int, error) {
	missing := 0
	for i := 0; i < len(ids); i += 1000 {
		keys := make([]string, 0, 1000)
		for _, id := range ids[i:min(i+1000, len(ids))] {
			keys = append(keys, d.Store.Keys().Token(id))
		}
		vals, err := d.Env.RDB.MGet(ctx, keys...).Result()
		if err != nil {
			return 0, err
		}
		for _, v := range vals {
			if v == nil {
				missing++
			}
		}
	}
	return missing, nil
}
