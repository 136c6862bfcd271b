// Package probe schedules the leader's probes of stored tokens: each
// target about every its interval (jittered down by up to 10%, never
// later; the first at a random point of the first interval, so that many
// targets spread out), at most Config.Workers at a time, never while the
// target is busy (retried after Config.Retry). What a probe does, and
// what its outcome means, is Config.Probe's business: this package only
// decides when.
package probe

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/tokend/tokend/refresher/internal/sched"
)

// Target is one token to probe about every Every (> 0).
type Target struct {
	ID    string
	Every time.Duration
}

// Config configures Run. Every field is required.
type Config struct {
	Targets []Target
	// Workers bounds concurrent probes.
	Workers int
	// Busy reports whether id must not be probed now (its check runs);
	// the probe is tried again Retry later.
	Busy  func(id string) bool
	Retry time.Duration
	// Probe probes id; ctx ends when Run's does.
	Probe func(ctx context.Context, id string)
	Clock clock.WithTicker
}

// Run probes the targets until ctx ends, then waits for running probes.
func Run(ctx context.Context, cfg Config) {
	every := map[string]time.Duration{}
	due := sched.New()
	now := cfg.Clock.Now()
	for _, t := range cfg.Targets {
		every[t.ID] = t.Every
		due.Set(t.ID, now.Add(rand.N(t.Every)))
	}
	done := make(chan string)
	var wg sync.WaitGroup
	defer wg.Wait()
	running := 0
	timer := cfg.Clock.NewTimer(0)
	defer timer.Stop()
	for {
		now = cfg.Clock.Now()
		for running < cfg.Workers {
			id, ok := due.PopDue(now)
			if !ok {
				break
			}
			if cfg.Busy(id) {
				due.Set(id, now.Add(cfg.Retry))
				continue
			}
			running++
			wg.Add(1)
			go func() {
				defer wg.Done()
				cfg.Probe(ctx, id)
				select {
				case done <- id:
				case <-ctx.Done():
				}
			}()
		}
		wait := time.Hour // a result wakes the loop while every worker is busy
		if e, ok := due.Peek(); ok && running < cfg.Workers {
			wait = max(e.At.Sub(now), 0)
		}
		if !timer.Stop() {
			select { // drain a fire we did not consume
			case <-timer.C():
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case id := <-done:
			running--
			due.Set(id, cfg.Clock.Now().Add(every[id]-rand.N(every[id]/10+1)))
		case <-timer.C():
		}
	}
}
