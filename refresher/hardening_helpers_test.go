package refresher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/store"
)

// countingStore counts the store calls the refresher makes and can fail
// token writes or report corrupt keys on demand.
type countingStore struct {
	*store.Store
	records, reports, report, status, counts atomic.Int32

	mu sync.Mutex // guards the fields below
	// writeFails: the next n writes fail; applied: and are applied first
	// (the answer is lost, not the write).
	writeFails int
	applied    bool
	// corrupt: Record of these apps returns the error.
	corrupt map[string]error
	// reportsCorrupt: PendingReport fails as a wrong-typed reports key.
	reportsCorrupt bool
}

func (c *countingStore) Record(ctx context.Context, app string) (store.Record, error) {
	c.records.Add(1)
	c.mu.Lock()
	err := c.corrupt[app]
	c.mu.Unlock()
	if err != nil {
		return store.Record{App: app}, err
	}
	return c.Store.Record(ctx, app)
}

func (c *countingStore) WriteToken(ctx context.Context, w store.Write) (store.WriteResult, error) {
	c.mu.Lock()
	fail, applied := c.writeFails > 0, c.applied
	if fail {
		c.writeFails--
	}
	c.mu.Unlock()
	if !fail {
		return c.Store.WriteToken(ctx, w)
	}
	if applied {
		_, _ = c.Store.WriteToken(ctx, w)
	}
	return store.WriteResult{}, errors.New("store: write token: i/o timeout")
}

func (c *countingStore) PendingReportsFor(ctx context.Context, apps []string) (map[string]string, error) {
	c.reports.Add(1)
	return c.Store.PendingReportsFor(ctx, apps)
}

func (c *countingStore) PendingReport(ctx context.Context, app string) (string, error) {
	c.report.Add(1)
	c.mu.Lock()
	bad := c.reportsCorrupt
	c.mu.Unlock()
	if bad {
		return "", &store.CorruptError{Key: "{tokend}:reports", Detail: "wrong type"}
	}
	return c.Store.PendingReport(ctx, app)
}

func (c *countingStore) SetStatus(ctx context.Context, app string, st store.Status) error {
	c.status.Add(1)
	return c.Store.SetStatus(ctx, app, st)
}

func (c *countingStore) CountTokenKeys(ctx context.Context, apps []string) (int, error) {
	c.counts.Add(1)
	return c.Store.CountTokenKeys(ctx, apps)
}

// waitPolls waits until the leader has polled the pending reports n more
// times (each ReportPoll tick polls, then sweeps). The leader's loop handles
// events, results and ticks one at a time, so after n polls everything that
// happened before the call has been handled and any check it started has
// had at least (n-1) ReportPoll to reach the upstream: the condition a test
// asserting "nothing more happened" needs, instead of a guessed sleep.
func (c *countingStore) waitPolls(t *testing.T, n int32) {
	t.Helper()
	from := c.reports.Load()
	wait.For(t, 5*time.Second+time.Duration(n)*time.Second, fmt.Sprintf("%d report polls", n), func() bool {
		return c.reports.Load() >= from+n
	})
}

// logRecorder keeps every log message.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, b.String())
	return nil
}

func (h *logRecorder) count(sub string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

// cancelElector leads with a fixed term until ctx ends.
type cancelElector struct{ term lock.Term }

func (e cancelElector) Run(ctx context.Context, lead lock.LeadFunc) error {
	lead(ctx, e.term)
	return nil
}

type leadingObserver struct {
	nopObserver
	leading atomic.Bool
}

func (o *leadingObserver) Leading(l bool, _ int64)        { o.leading.Store(l) }
func (o *leadingObserver) Written(string, time.Time, int) {}
