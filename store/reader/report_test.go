package reader

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store"
)

// putVersioned writes <app>-v<version> with a fenced write.
func putVersioned(t testing.TB, s *store.Store, rdb *redis.Client, app string) int64 {
	t.Helper()
	ctx := context.Background()
	rdb.Set(ctx, s.Keys().Lease(), lease, time.Minute)
	tk, err := s.TakeTicket(ctx, app, lease, 0)
	if err != nil {
		t.Fatal(err)
	}
	next := rdb.HIncrBy(ctx, s.Keys().Meta(app), "version", 0).Val() + 1 // only this test writes
	v, err := s.WriteToken(ctx, store.Write{App: app, Ticket: tk, Token: app + "-v" + strconv.FormatInt(next, 10), ExpiresIn: time.Hour})
	if err != nil || v.Version != next {
		t.Fatalf("write: version %d (want %d), %v", v.Version, next, err)
	}
	return v.Version
}

func TestReader_ReportInvalid(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store, rdb *redis.Client) {
		ctx := context.Background()
		putToken(t, s, rdb, "app")
		r := newReader(t, rdb, Config{ResyncInterval: time.Hour})
		tok := mustToken(t, r, "app")
		subscribed(t, r)

		if err := r.ReportInvalid(ctx, "app", ""); err == nil {
			t.Fatal("empty token accepted")
		}
		if err := r.ReportInvalid(ctx, "a b", "x"); !errors.Is(err, ErrInvalidApp) {
			t.Fatalf("bad app: %v", err)
		}
		// A token other than the cached one was already replaced: no report.
		if err := r.ReportInvalid(ctx, "app", "an-older-token"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.PendingReports(ctx); len(got) != 0 {
			t.Fatalf("stale report was sent: %v", got)
		}
		if got, err := r.ReportAndWait(ctx, "app", "an-older-token"); err != nil || got != tok {
			t.Fatalf("ReportAndWait of a replaced token: %v %v, want the current one at once", got, err)
		}

		if err := r.ReportInvalid(ctx, "app", tok.Value); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.PendingReports(ctx); got["app"] != tok.Value {
			t.Fatalf("pending reports %v", got)
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := r.ReportAndWait(short, "app", tok.Value); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("no new token: %v, want DeadlineExceeded", err)
		}

		type result struct {
			tok Token
			err error
		}
		done := make(chan result, 1)
		go func() {
			got, err := r.ReportAndWait(ctx, "app", tok.Value)
			done <- result{got, err}
		}()
		v2 := putToken(t, s, rdb, "app") // the leader's answer
		select {
		case res := <-done:
			if res.err != nil || res.tok.Version != v2 || res.tok.Value == tok.Value {
				t.Fatalf("ReportAndWait: %v %v, want version %d", res.tok, res.err, v2)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("ReportAndWait did not return the new token")
		}
	})
}

// TestReader_ReportAndWait_missedEvent: the wait re-reads Redis itself.
func TestReader_ReportAndWait_missedEvent(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := newStore(t, rdb)
	putToken(t, s, rdb, "app")
	r := newReader(t, rdb, Config{ResyncInterval: time.Hour})
	tok := mustToken(t, r, "app")
	subscribed(t, r)
	v2 := putSilently(t, s, rdb, "app", "tok-silent", time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := r.ReportAndWait(ctx, "app", tok.Value)
	if err != nil || got.Version != v2 {
		t.Fatalf("ReportAndWait: %v %v", got, err)
	}
}

// TestReader_ReportInvalid_collapses: concurrent reports of one token from
// one process reach Redis as far fewer report commands.
func TestReader_ReportInvalid_collapses(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := newStore(t, rdb)
	holdLease(t, s, rdb)
	tk, _ := s.TakeTicket(context.Background(), "app", lease, 0)
	if _, err := write(t, s, "app", "tok-1", tk, time.Hour); err != nil {
		t.Fatal(err)
	}
	r, err := New(rdb, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Token(context.Background(), "app"); err != nil {
		t.Fatal(err)
	}
	before := mr.CommandCount()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := r.ReportInvalid(context.Background(), "app", "tok-1"); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	// Each Store.Report is a MULTI/HSET/PUBLISH/EXEC transaction.
	if n := mr.CommandCount() - before; n > 4*50 {
		t.Fatalf("200 concurrent reports sent %d commands, want them collapsed", n)
	}
}

// TestReader_ReportAndWait_reportsAgain: a late report of an older token
// replaces ours in the reports hash and the leader drops it as stale; the
// waiter reports again and gets the new token.
func TestReader_ReportAndWait_reportsAgain(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := newStore(t, rdb)
	ctx := context.Background()
	holdLease(t, s, rdb)
	tk, _ := s.TakeTicket(ctx, "app", lease, 0)
	if _, err := write(t, s, "app", "tok-1", tk, time.Hour); err != nil {
		t.Fatal(err)
	}
	r, err := New(rdb, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitPending := func(want string) bool {
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if got, _ := s.PendingReport(ctx, "app"); got == want {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	}
	go func() {
		if !waitPending("tok-1") {
			return
		}
		_ = s.Report(ctx, "app", "tok-0")         // late report of an older token
		_, _ = s.ClearReport(ctx, "app", "tok-0") // the leader drops it as stale
		if !waitPending("tok-1") {                // reported again by the waiter
			return
		}
		tk, _ := s.TakeTicket(ctx, "app", lease, 0)
		_, _ = s.WriteToken(ctx, store.Write{App: "app", Ticket: tk, Token: "tok-2", ExpiresIn: time.Hour, SafetyMargin: time.Minute})
	}()
	wctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	got, err := r.ReportAndWait(wctx, "app", "tok-1")
	if err != nil || got.Value != "tok-2" {
		t.Fatalf("ReportAndWait = %v, %v; want tok-2", got, err)
	}
}
