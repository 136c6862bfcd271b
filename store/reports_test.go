package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/redisserver"

	"github.com/tokend/tokend/store/event"
)

func TestStore_reports(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		sub := s.Subscribe(ctx)
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Report(ctx, "app", ""); err == nil {
			t.Fatal("empty token report accepted")
		}
		for range 3 { // idempotent: repeated reports collapse
			if err := s.Report(ctx, "app", "bad-1"); err != nil {
				t.Fatal(err)
			}
		}
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Payload != event.Encode(event.Event{Type: event.Report, App: "app"}) {
			t.Fatalf("event %q", msg.Payload)
		}
		rdb.HSet(ctx, s.Keys().Reports(), "bad id!", "x") // hand-written junk is skipped
		got, err := s.PendingReports(ctx)
		if err != nil || len(got) != 1 || got["app"] != "bad-1" {
			t.Fatalf("pending = %v, %v", got, err)
		}
		if tok, err := s.PendingReport(ctx, "app"); tok != "bad-1" || err != nil {
			t.Fatalf("PendingReport = %q, %v", tok, err)
		}
		if tok, err := s.PendingReport(ctx, "other"); tok != "" || err != nil {
			t.Fatalf("PendingReport(other) = %q, %v", tok, err)
		}
		if _, err := s.PendingReport(ctx, "bad id"); !errors.Is(err, ErrInvalidApp) {
			t.Fatalf("PendingReport(bad id): %v", err)
		}
		// A newer report of another token is not cleared by the old one's clear.
		if err := s.Report(ctx, "app", "bad-2"); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.ClearReport(ctx, "app", "bad-1"); ok || err != nil {
			t.Fatalf("clear of a superseded report: %v %v", ok, err)
		}
		if ok, err := s.ClearReport(ctx, "app", "bad-2"); !ok || err != nil {
			t.Fatalf("clear: %v %v", ok, err)
		}
		if got, _ := s.PendingReports(ctx); len(got) != 0 {
			t.Fatalf("pending after clear: %v", got)
		}
		if _, err := s.ClearReport(ctx, "no such", "x"); !errors.Is(err, ErrInvalidApp) {
			t.Fatalf("clear with bad app: %v", err)
		}
	})
}

// TestReport_redisRecipe checks that the documented two-command recipe is
// seen by the store exactly like Report.
func TestReport_redisRecipe(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		rdb.HSet(ctx, "{tokend}:reports", "mp-main", "the-bad-token")
		rdb.Publish(ctx, "{tokend}:events", `{"type":"report","app":"mp-main"}`)
		got, err := s.PendingReports(ctx)
		if err != nil || got["mp-main"] != "the-bad-token" {
			t.Fatalf("pending = %v, %v", got, err)
		}
	})
}

func TestStore_status(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		if st, err := s.Status(ctx, "app"); err != nil || st != (Status{}) {
			t.Fatalf("empty status = %+v, %v", st, err)
		}
		want := Status{
			NextRefresh: time.UnixMilli(1_700_000_000_123), LastError: "upstream: errcode 40164: invalid ip",
			LastErrorCode: 40164, BudgetUsed: 12, UpdatedAt: time.UnixMilli(1_700_000_000_000),
		}
		if err := s.SetStatus(ctx, "app", want); err != nil {
			t.Fatal(err)
		}
		got, err := s.Status(ctx, "app")
		if err != nil || !got.NextRefresh.Equal(want.NextRefresh) || got.LastError != want.LastError ||
			got.LastErrorCode != want.LastErrorCode || got.BudgetUsed != want.BudgetUsed || !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Fatalf("status = %+v, %v; want %+v", got, err, want)
		}
		if err := s.SetStatus(ctx, "a b", want); !errors.Is(err, ErrInvalidApp) {
			t.Fatalf("SetStatus bad app: %v", err)
		}
		if _, err := s.Status(ctx, "a b"); !errors.Is(err, ErrInvalidApp) {
			t.Fatalf("Status bad app: %v", err)
		}
	})
}

// TestStore_scriptsSurviveRestart: after a restart the script cache is empty;
// EVALSHA's NOSCRIPT must lead to a reload, not an error.
func TestStore_scriptsSurviveRestart(t *testing.T) {
	srv := redisserver.Start(t)
	rdb := srv.Client()
	s := newStore(t, rdb)
	ctx := context.Background()
	holdLease(t, s, rdb)
	tk, err := s.TakeTicket(ctx, "app", lease, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := write(t, s, "app", "t1", tk, time.Hour); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	rdb.Ping(ctx) // let the pool notice the dead connections
	holdLease(t, s, rdb)
	if n := rdb.ScriptExists(ctx, takeTicketScript.Hash()).Val(); n[0] {
		t.Fatal("restarted server still has the script cached; test is not testing anything")
	}
	tk2, err := s.TakeTicket(ctx, "app", lease, 0)
	if err != nil {
		t.Fatalf("ticket after restart: %v", err)
	}
	if tk2.N <= tk.N {
		t.Fatalf("ticket after restart %d not greater than %d", tk2.N, tk.N)
	}
	if _, err := write(t, s, "app", "t2", tk2, time.Hour); err != nil {
		t.Fatalf("write after restart: %v", err)
	}
	if _, err := s.Record(ctx, "app"); err != nil {
		t.Fatalf("record after restart: %v", err)
	}
}
