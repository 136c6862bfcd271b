package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/cmd/tokend/internal/metrics"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/fleet"
)

// failingAudit fails every write, counting them.
type failingAudit struct{ calls atomic.Int32 }

func (f *failingAudit) AppendAudit(context.Context, fleet.AuditEntry) error {
	f.calls.Add(1)
	return errors.New("redis down")
}

type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) warn(_ context.Context, msg string, _ ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warnings) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
}

func miniStore(t *testing.T) (*store.Store, *redis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	st, err := store.New(store.Config{Client: rdb})
	if err != nil {
		t.Fatal(err)
	}
	return st, rdb
}

// TestAuditObserver: each event becomes a log line and a stream entry
// with the fingerprint, never a token; metrics still count.
func TestAuditObserver(t *testing.T) {
	base, _ := miniStore(t)
	st := fleet.New(base)
	var logBuf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: &logBuf, mu: &mu}, nil))
	clk := clocktesting.NewFakeClock(time.UnixMilli(1_800_000_000_000))
	m := metrics.New()
	a := newAuditObserver(m, "r1", log, clk, (&warnings{}).warn)
	a.st = st
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	a.Fetched("mp", "config", 40164, time.Millisecond)
	a.Fetched("mp", "ok", 0, time.Millisecond) // audited by WrittenToken
	a.WrittenToken("mp", store.Fingerprint("secret-token"), 7)
	a.Report("mp", "refreshed")
	a.Probed("mp", "rejected")
	a.Leading(true, 3)
	var got []fleet.AuditEntry
	wait.For(t, 5*time.Second, "5 audit entries in Redis", func() bool {
		got, _ = st.RecentAudit(context.Background(), 10)
		return len(got) == 5
	})
	want := []fleet.AuditEntry{
		{Action: "leader", Outcome: "acquired", Detail: "epoch 3"},
		{App: "mp", Action: "probe", Outcome: "rejected"},
		{App: "mp", Action: "report", Outcome: "refreshed"},
		{App: "mp", Action: "refresh", Outcome: "ok", Fingerprint: store.Fingerprint("secret-token"), Detail: "version 7"},
		{App: "mp", Action: "refresh", Outcome: "config", Errcode: 40164},
	}
	for i, w := range want {
		w.ID, w.Time, w.Replica = got[i].ID, clk.Now(), "r1"
		if got[i] != w {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], w)
		}
	}
	mu.Lock()
	lines := logBuf.String()
	mu.Unlock()
	if n := strings.Count(lines, `"msg":"audit"`); n != 5 || !strings.Contains(lines, `"errcode":40164`) {
		t.Errorf("%d audit log lines:\n%s", n, lines)
	}
	if strings.Contains(lines, "secret-token") {
		t.Error("a token value reached the log")
	}
}

// TestAuditObserver_neverBlocks: with Redis failing and nobody draining,
// events return at once; failures are warned about, not returned.
func TestAuditObserver_neverBlocks(t *testing.T) {
	w := &warnings{}
	a := newAuditObserver(metrics.New(), "r1", slog.New(slog.DiscardHandler), clocktesting.NewFakeClock(time.Now()), w.warn)
	f := &failingAudit{}
	a.st = f
	for range auditQueue * 3 { // no Run yet: the queue fills, the rest is dropped
		a.Probed("mp", "ok")
	}
	if n := a.dropped.Load(); n != auditQueue*2 {
		t.Fatalf("dropped %d, want %d", n, auditQueue*2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	wait.For(t, 5*time.Second, "the queue drained", func() bool { return f.calls.Load() == auditQueue })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.count() == 0 {
		t.Error("failed writes not warned about")
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestRegistry: the entry is written at once and at every tick with the
// current leader flag, and removed when Run ends.
func TestRegistry(t *testing.T) {
	base, _ := miniStore(t)
	st := fleet.New(base)
	clk := clocktesting.NewFakeClock(time.Now())
	var leading atomic.Bool
	r := &registry{
		st: st, clock: clk, interval: replicaInterval, timeout: time.Second, warn: (&warnings{}).warn,
		info: func() fleet.ReplicaInfo {
			return fleet.ReplicaInfo{ID: "r1", Leader: leading.Load(), Version: "v1", Listen: "127.0.0.1:1"}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	entry := func() fleet.Replica {
		list, _ := st.Replicas(context.Background())
		if len(list) != 1 {
			return fleet.Replica{}
		}
		return list[0]
	}
	wait.For(t, 5*time.Second, "the first entry", func() bool { return entry().ID == "r1" })
	if e := entry(); e.Leader || e.Stale || e.Version != "v1" || e.Listen != "127.0.0.1:1" {
		t.Fatalf("entry %+v", e)
	}
	leading.Store(true)
	wait.For(t, 5*time.Second, "the ticker", func() bool { return clk.HasWaiters() })
	clk.Step(replicaInterval)
	wait.For(t, 5*time.Second, "the leader flag after a tick", func() bool { return entry().Leader })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if list, _ := st.Replicas(context.Background()); len(list) != 0 {
		t.Fatalf("entry left after a clean stop: %+v", list)
	}
}
