package probe

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"k8s.io/utils/clock"
)

// recorder keeps when each id was probed (virtual time).
type recorder struct {
	mu      sync.Mutex
	at      map[string][]time.Time
	running int
	most    int
}

func (r *recorder) probe(d time.Duration) func(context.Context, string) {
	return func(ctx context.Context, id string) {
		r.mu.Lock()
		if r.at == nil {
			r.at = map[string][]time.Time{}
		}
		r.at[id] = append(r.at[id], time.Now())
		r.running++
		r.most = max(r.most, r.running)
		r.mu.Unlock()
		time.Sleep(d)
		r.mu.Lock()
		r.running--
		r.mu.Unlock()
	}
}

func (r *recorder) times(id string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.at[id]...)
}

// run runs Run in the bubble for d of virtual time.
func run(t *testing.T, cfg Config, d time.Duration) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); Run(ctx, cfg) }()
	time.Sleep(d)
	cancel()
	<-done
}

// TestRun_aboutEvery: every target is probed within its first interval,
// then about every interval (jittered down by at most 10%, never later).
func TestRun_aboutEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		start := time.Now()
		every := 10 * time.Second
		run(t, Config{
			Targets: []Target{{"a", every}, {"b", every}, {"c", every}}, Workers: 2,
			Busy: func(string) bool { return false }, Retry: time.Second, Probe: rec.probe(0), Clock: clock.RealClock{},
		}, 100*time.Second)
		for _, id := range []string{"a", "b", "c"} {
			at := rec.times(id)
			if len(at) < 10 || at[0].Sub(start) >= every {
				t.Fatalf("%s probed %d times in 100s, first after %s", id, len(at), at[0].Sub(start))
			}
			for i := 1; i < len(at); i++ {
				if gap := at[i].Sub(at[i-1]); gap > every || gap < every*9/10 {
					t.Fatalf("%s: gap %s between probes, want 9s to 10s", id, gap)
				}
			}
		}
	})
}

// TestRun_busyAndWorkers: a busy target waits (tried again every Retry);
// at most Workers probes run at once.
func TestRun_busyAndWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		start := time.Now()
		busyUntil := start.Add(25 * time.Second)
		run(t, Config{
			Targets: []Target{{"a", 10 * time.Second}, {"b", 10 * time.Second}, {"c", 10 * time.Second}}, Workers: 1,
			Busy:  func(id string) bool { return id == "a" && time.Now().Before(busyUntil) },
			Retry: time.Second, Probe: rec.probe(3 * time.Second), Clock: clock.RealClock{},
		}, 60*time.Second)
		at := rec.times("a")
		if len(at) == 0 || at[0].Before(busyUntil) || at[0].Sub(busyUntil) > 10*time.Second {
			t.Fatalf("busy target first probed at %v, want soon after %s", at, busyUntil.Sub(start))
		}
		if rec.most != 1 {
			t.Fatalf("%d probes ran at once, want at most 1", rec.most)
		}
	})
}
