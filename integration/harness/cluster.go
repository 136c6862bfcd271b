package harness

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Cluster is a set of replicas sharing one Config. Its methods are meant to
// be called from the test goroutine.
type Cluster struct {
	Cfg Config

	tb  testing.TB
	dir string

	mu    sync.Mutex // guards procs
	procs []*Process
}

// NewCluster validates cfg and returns an empty cluster; replicas are
// stopped (SIGKILL) when the test ends, and on failure the tail of each
// replica's log is printed.
func NewCluster(tb testing.TB, cfg Config) *Cluster {
	tb.Helper()
	if cfg.Redis == nil || len(cfg.Apps) == 0 {
		tb.Fatal("harness: Config needs Redis and Apps")
	}
	cfg.setDefaults()
	c := &Cluster{Cfg: cfg, tb: tb, dir: tb.TempDir()}
	Binary(tb) // build before any timing starts
	tb.Cleanup(c.cleanup)
	return c
}

// Start starts n replicas named r1..rn (numbering continues across calls)
// in parallel and waits until each answers /readyz.
func (c *Cluster) Start(n int, env ...string) []*Process {
	c.tb.Helper()
	c.mu.Lock()
	first := len(c.procs) + 1
	c.mu.Unlock()
	out := make([]*Process, n)
	for i := range n {
		out[i] = c.Add(fmt.Sprintf("r%d", first+i), env...)
	}
	return out
}

// Add starts one replica with extra environment and waits for /readyz. A
// replica that could not bind its (freshly chosen) port is retried.
func (c *Cluster) Add(id string, env ...string) *Process {
	c.tb.Helper()
	var last error
	for attempt := range 3 {
		name := id
		if attempt > 0 {
			name = fmt.Sprintf("%s-retry%d", id, attempt)
		}
		p, err := startProcess(c.tb, &c.Cfg, c.dir, name, env)
		if err != nil {
			c.tb.Fatalf("harness: start %s: %v", id, err)
		}
		p.ID = id
		c.mu.Lock()
		c.procs = append(c.procs, p)
		c.mu.Unlock()
		if last = p.waitReady(10 * time.Second); last == nil {
			return p
		}
		p.stop()
		if !strings.Contains(p.LogTail(5), "address already in use") {
			break
		}
	}
	c.tb.Fatalf("%v", last)
	return nil
}

// Procs returns every replica started, including those that exited.
func (c *Cluster) Procs() []*Process {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Process(nil), c.procs...)
}

// Alive returns the replicas that have not exited.
func (c *Cluster) Alive() []*Process {
	var out []*Process
	for _, p := range c.Procs() {
		if !p.Exited() {
			out = append(out, p)
		}
	}
	return out
}

// Leaders asks every live replica in candidates (all live ones when nil)
// for /v1/status and returns those that say they lead. Replicas that do not
// answer within a short timeout (paused, or cut off from Redis) are left
// out.
func (c *Cluster) Leaders(candidates []*Process) []*Process {
	if candidates == nil {
		candidates = c.Alive()
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out []*Process
	)
	for _, p := range candidates {
		if p.Exited() {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			if st, err := p.Status(ctx); err == nil && st.Leader {
				mu.Lock()
				out = append(out, p)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// WaitLeader waits until exactly one of candidates (all live replicas when
// nil) leads and returns it with the time waited. It fails the test after
// timeout.
func (c *Cluster) WaitLeader(timeout time.Duration, candidates []*Process) (*Process, time.Duration) {
	c.tb.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		if ls := c.Leaders(candidates); len(ls) == 1 {
			return ls[0], time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.tb.Fatalf("harness: no single leader within %s (leaders now: %v)", timeout, ids(c.Leaders(candidates)))
	return nil, 0
}

// Without returns the live replicas other than p.
func (c *Cluster) Without(p *Process) []*Process {
	var out []*Process
	for _, q := range c.Alive() {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

func ids(ps []*Process) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func (c *Cluster) cleanup() {
	for _, p := range c.Procs() {
		p.stop()
	}
	if c.tb.Failed() {
		for _, p := range c.Procs() {
			c.tb.Logf("harness: ---- last lines of %s (%s) ----\n%s", p.ID, p.LogPath, p.LogTail(40))
		}
	}
}
