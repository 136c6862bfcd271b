package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/redisserver"
)

// TestStore_deployACL: the scripts' checks and repairs, and the new report
// calls, and the windowed budgets, work as the users of deploy/redis-users.acl (the Reader as
// tokend-lib: store/reader's TestReader_deployACL) (no TYPE there: the
// scripts detect wrong types with pcall; PruneReports needs HSCAN).
func TestStore_deployACL(t *testing.T) {
	srv := redisserver.StartACL(t, "../deploy/redis-users.acl")
	user := srv.User
	ctx := context.Background()
	rdb := user("tokend", "change-me-tokend")
	log := &corruptLog{}
	s, err := New(Config{Client: rdb, OnCorrupt: log.note})
	if err != nil {
		t.Fatal(err)
	}
	rdb.Set(ctx, s.Keys().Lease(), lease, time.Minute)
	rdb.Set(ctx, s.Keys().Ticket("app"), "garbage", 0)
	tk, err := s.TakeTicket(ctx, "app", lease, 10)
	if err != nil {
		t.Fatalf("TakeTicket over a garbage ticket key: %v", err)
	}
	if _, err := write(t, s, "app", "tok-1", tk, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Windowed budgets, and the repair of a garbage one (no PEXPIREAT).
	b := Budget{Key: "corp", Limit: 5, Window: time.Hour}
	if _, err := s.TakeTicketBudgets(ctx, "app:jsapi", lease, 10, []Budget{b}); err != nil {
		t.Fatalf("TakeTicketBudgets: %v", err)
	}
	rdb.HSet(ctx, s.Keys().Window(b), "used", "x")
	if _, err := s.TakeTicketBudgets(ctx, "app:jsapi", lease, 10, []Budget{b}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("TakeTicketBudgets over garbage: %v, want ErrCorrupt", err)
	}
	rdb.HSet(ctx, s.Keys().Reports(), "ghost", "x")
	if m, err := s.PendingReportsFor(ctx, []string{"app"}); err != nil || len(m) != 0 {
		t.Fatalf("PendingReportsFor: %v, %v", m, err)
	}
	if n, err := s.PruneReports(ctx, []string{"app"}); err != nil || n != 1 {
		t.Fatalf("PruneReports: %d, %v", n, err)
	}
	rdb.Set(ctx, s.Keys().Reports(), "x", 0)
	if _, err := s.PendingReport(ctx, "app"); err != nil || !log.has(s.Keys().Reports(), "", true) {
		t.Fatalf("PendingReport over a wrong-typed key: %v, %v", err, log.take())
	}

	lib := user("tokend-lib", "change-me-lib")
	rdb.HSet(ctx, s.Keys().Meta("app"), "version", "abc")
	ls, _ := New(Config{Client: lib})
	if _, err := ls.Record(ctx, "app"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Record as tokend-lib over garbage: %v, want ErrCorrupt", err)
	}
}
