package reader

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	clocktesting "k8s.io/utils/clock/testing"
)

// countingHook counts the commands a client sends, pipelines included.
type countingHook struct {
	mu     sync.Mutex
	total  int
	hsets  int // HSET of the reports hash
	report string
}

func (h *countingHook) add(cmd redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.total++
	if args := cmd.Args(); cmd.Name() == "hset" && len(args) > 1 && args[1] == h.report {
		h.hsets++
	}
}

func (h *countingHook) counts() (total, hsets int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total, h.hsets
}

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.add(cmd)
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.add(c)
		}
		return next(ctx, cmds)
	}
}

// TestReader_ReportAndWait_storm: N concurrent waiters on one (app, token)
// cost the same Redis commands as one (issue 11 item 12): one report, one
// re-read loop. Before, every waiter re-reported every second.
func TestReader_ReportAndWait_storm(t *testing.T) {
	for _, n := range []int{1, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			mr := miniredis.RunT(t)
			rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			defer rdb.Close()
			s := newStore(t, rdb)
			putToken(t, s, rdb, "app")
			hook := &countingHook{report: s.Keys().Reports()}
			rr := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			defer rr.Close()
			rr.AddHook(hook)
			r := newReader(t, rr, Config{ResyncInterval: time.Hour})
			tok := mustToken(t, r, "app")
			subscribed(t, r)
			total0, _ := hook.counts()

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := r.ReportAndWait(ctx, "app", tok.Value)
					if err == nil && got.Value == tok.Value {
						err = fmt.Errorf("got the reported token back")
					}
					errs <- err
				}()
			}
			k := waitKey{"app", tok.Value}
			waitFor(t, 10*time.Second, "every waiter attached", func() bool {
				r.waitMu.Lock()
				defer r.waitMu.Unlock()
				return r.waits[k] != nil && r.waits[k].n == n
			})
			// Let the shared loop re-read Redis twice while all wait.
			polls := r.waitPolls.Load()
			waitFor(t, 10*time.Second, "two polls", func() bool { return r.waitPolls.Load() >= polls+2 })
			putToken(t, s, rdb, "app") // the leader's answer
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			total, hsets := hook.counts()
			t.Logf("%d waiters: %d commands, %d report HSETs", n, total-total0, hsets)
			if hsets != 1 {
				t.Fatalf("%d waiters sent %d reports, want 1", n, hsets)
			}
			if total-total0 > 40 {
				t.Fatalf("%d waiters cost %d commands, want a bound independent of the waiters", n, total-total0)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestReader_log_firstSubscribeFailure: a Reader that never subscribed and
// caches nothing says it cannot subscribe, not that it lost the
// subscription and serves cached tokens (issue 11 item 14).
func TestReader_log_firstSubscribeFailure(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	var buf syncBuffer
	r := newReader(t, rdb, Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	waitFor(t, 10*time.Second, "a log line", func() bool { return strings.Contains(buf.String(), "subscribe") })
	r.Close()
	out := buf.String()
	if strings.Contains(out, "serving cached tokens") || strings.Contains(out, "lost") {
		t.Fatalf("log says something untrue:\n%s", out)
	}
	if n := strings.Count(out, "cannot subscribe"); n != 1 {
		t.Fatalf("said %d times:\n%s", n, out)
	}
}

// TestReader_log_malformedEventsLimited: malformed events are logged once,
// then as a count at most once a minute (issue 11 item 14).
func TestReader_log_malformedEventsLimited(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := newStore(t, rdb)
	clk := clocktesting.NewFakeClock(time.Now())
	var buf syncBuffer
	r := newReader(t, rdb, Config{Clock: clk, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if _, err := r.Token(context.Background(), "app"); err == nil {
		t.Fatal("token before any write")
	}
	subscribed(t, r)
	publish := func(k int) {
		for range k {
			rdb.Publish(context.Background(), s.Keys().Events(), "not json")
		}
	}
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, "malformed") {
				out = append(out, l)
			}
		}
		return out
	}
	publish(20)
	waitFor(t, 10*time.Second, "20 malformed events", func() bool { return r.malformed.Load() == 20 })
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "count=1") {
		t.Fatalf("after 20 malformed events:\n%s", strings.Join(got, "\n"))
	}
	clk.Step(59 * time.Second)
	publish(1)
	waitFor(t, 10*time.Second, "21 malformed events", func() bool { return r.malformed.Load() == 21 })
	clk.Step(2 * time.Second)
	publish(1)
	waitFor(t, 10*time.Second, "22 malformed events", func() bool { return r.malformed.Load() == 22 })
	if got := lines(); len(got) != 2 || !strings.Contains(got[1], "count=21") {
		t.Fatalf("after a minute:\n%s", strings.Join(got, "\n"))
	}
}

func TestRepeatLimit_note(t *testing.T) {
	minute := int64(time.Minute)
	steps := []struct {
		now   int64
		emit  bool
		count int
	}{
		{0, true, 1},
		{1, false, 0},
		{minute - 1, false, 0}, // the edge: not yet a minute
		{minute, true, 3},
		{minute + 1, false, 0},
		{3 * minute, true, 2},
		{4 * minute, true, 1},
	}
	var l repeatLimit
	for i, st := range steps {
		if emit, count := l.note(st.now); emit != st.emit || count != st.count {
			t.Fatalf("step %d (now %d): note = %v, %d; want %v, %d", i, st.now, emit, count, st.emit, st.count)
		}
	}
}
