package fleet

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store/event"
)

// Steady is a steady-state sample of the leader and Redis.
type Steady struct {
	RSS             int64 // max VmRSS seen, bytes
	Ticks, Commands int64 // CPU ticks of the leader, Redis commands
	Window          time.Duration
}

// CPUPct is the CPU use over the window, in % of one core.
func (s Steady) CPUPct() float64 {
	return float64(s.Ticks) / ClockTicks / s.Window.Seconds() * 100
}

// SteadyState samples pid's RSS and CPU and Redis's commands over
// window.
func SteadyState(ctx context.Context, rdb *redis.Client, pid int, window time.Duration) (Steady, error) {
	rss0, ticks0, err := ProcStat(pid)
	if err != nil {
		return Steady{}, err
	}
	cmd0, t0 := CommandsProcessed(ctx, rdb), time.Now()
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return Steady{}, ctx.Err()
	}
	rss1, ticks1, err := ProcStat(pid)
	if err != nil {
		return Steady{}, err
	}
	return Steady{
		RSS: max(rss0, rss1), Ticks: ticks1 - ticks0,
		Commands: CommandsProcessed(ctx, rdb) - cmd0, Window: time.Since(t0),
	}, nil
}

// Follow subscribes to d's events channel and calls fn with each event
// (from its own goroutine, one at a time) until fn returns false, ctx ends
// or stop is called; stop ends the subscription and waits for the
// goroutine.
func (d *Deployment) Follow(ctx context.Context, fn func(event.Event) bool) (stop func(), err error) {
	sub := d.Env.RDB.Subscribe(ctx, d.Store.Keys().Events())
	if _, err := sub.Receive(ctx); err != nil { // the subscribe confirmation
		sub.Close()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := sub.ReceiveMessage(ctx)
			select {
			case <-quit:
				return
			default:
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(10 * time.Millisecond) // a broken connection: go-redis reconnects
				continue
			}
			if ev, err := event.Parse(msg.Payload); err == nil && !fn(ev) {
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			_ = sub.Close()
			<-done
		})
	}, nil
}

// CountTokenEvents returns a channel closed once n distinct apps had a
// token written on d. The subscription ends with ctx or then.
func (d *Deployment) CountTokenEvents(ctx context.Context, n int) (<-chan struct{}, error) {
	all := make(chan struct{})
	seen := make(map[string]bool, n)
	_, err := d.Follow(ctx, func(ev event.Event) bool {
		if ev.Type == event.Token {
			seen[ev.App] = true
		}
		if len(seen) >= n {
			close(all)
			return false
		}
		return true
	})
	return all, err
}

// CountMissing counts ids whose token key does not exist.
func (d *Deployment) CountMissing(ctx context.Context, ids []string) (int, error) {
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

// CountWrites counts token events on d's channel from now on, until
// ctx ends; the function returned reads the count.
func (d *Deployment) CountWrites(ctx context.Context) (func() int, error) {
	var n atomic.Int64
	_, err := d.Follow(ctx, func(ev event.Event) bool {
		if ev.Type == event.Token {
			n.Add(1)
		}
		return true
	})
	return func() int { return int(n.Load()) }, err
}

// Fill starts replicas of a new deployment named name of the apps ids
// (registered with the upstream at baseURL) and waits, at most
// max(minLimit, 10 ms per app), until every app has its first token. It
// returns the deployment (the caller stops it), the app ids and when the
// replicas were started. The token-event count runs on sctx.
func (e *Env) Fill(ctx, sctx context.Context, name string, ids []string, baseURL string, replicas int, minLimit time.Duration) (*Deployment, []string, time.Time, error) {
	n := len(ids)
	d, err := e.NewDeployment(name, ids, baseURL)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	fail := func(err error) (*Deployment, []string, time.Time, error) {
		d.Stop()
		return nil, nil, time.Time{}, err
	}
	all, err := d.CountTokenEvents(sctx, n)
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	if err := d.StartReplicas(ctx, replicas, 60*time.Second); err != nil {
		return fail(err)
	}
	limit := max(minLimit, time.Duration(n)*10*time.Millisecond)
	select {
	case <-all:
	case <-time.After(limit):
		return fail(fmt.Errorf("not every app had a token within %s", limit))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	return d, ids, start, nil
}

// Sleep waits d or until ctx ends (its error then).
func Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
