package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func take(s *Store, app string, daily int, budgets ...Budget) (Ticket, error) {
	return s.TakeTicketBudgets(context.Background(), app, lease, daily, budgets)
}

func TestKeys_window(t *testing.T) {
	k, _ := NewKeys("")
	if got := k.Window(Budget{Key: "wecom-corp.ww1", Limit: 400, Window: time.Hour}); got != "{tokend}:window:wecom-corp.ww1:3600" {
		t.Fatalf("window key %q", got)
	}
}

func TestCheckBudget(t *testing.T) {
	for _, tc := range []struct {
		b  Budget
		ok bool
	}{
		{Budget{Key: "mp-main:jsapi", Limit: 100, Window: time.Hour}, true},
		{Budget{Key: "wecom-corp.ww1/x", Limit: 1, Window: time.Second}, true},
		{Budget{Key: "", Limit: 1, Window: time.Hour}, false},
		{Budget{Key: "a b", Limit: 1, Window: time.Hour}, false},
		{Budget{Key: "a", Limit: 0, Window: time.Hour}, false},
		{Budget{Key: "a", Limit: 1, Window: 1500 * time.Millisecond}, false},
		{Budget{Key: "a", Limit: 1, Window: 0}, false},
	} {
		if err := CheckBudget(tc.b); (err == nil) != tc.ok {
			t.Errorf("CheckBudget(%+v) = %v", tc.b, err)
		}
	}
}

// TestStore_TakeTicketBudgets: windowed budgets count with the daily one,
// all or nothing, shared by key, and refuse with which budget and until
// when.
func TestStore_TakeTicketBudgets(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		corp := Budget{Key: "corp", Limit: 3, Window: time.Hour}
		own := Budget{Key: "a:jsapi", Limit: 2, Window: time.Hour}
		for i := range 2 {
			if _, err := take(s, "a:jsapi", 10, own, corp); err != nil {
				t.Fatalf("ticket %d: %v", i, err)
			}
		}
		ticketBefore := rdb.Get(ctx, s.Keys().Ticket("a:jsapi")).Val()
		tk, err := take(s, "a:jsapi", 10, own, corp)
		var be *BudgetError
		if !errors.As(err, &be) || !errors.Is(err, ErrBudgetExhausted) || be.Key != "a:jsapi" || be.Used != 2 || be.Limit != 2 {
			t.Fatalf("own budget used up: %v", err)
		}
		if until := be.Until.Sub(tk.IssuedAt); until <= 0 || until > time.Hour || be.Until.UnixMilli()%time.Hour.Milliseconds() != 0 {
			t.Fatalf("until %s (in %s), want the end of the hour", be.Until, until)
		}
		// Refused: nothing counted anywhere.
		if rdb.Get(ctx, s.Keys().Ticket("a:jsapi")).Val() != ticketBefore || budgetUsed(t, s, rdb, "a:jsapi") != "2" ||
			rdb.HGet(ctx, s.Keys().Window(corp), "used").Val() != "2" {
			t.Fatal("a refused ticket counted")
		}
		// The corp budget is shared: one more for b, then b is refused by it.
		if _, err := take(s, "b:jsapi", 10, corp); err != nil {
			t.Fatal(err)
		}
		if _, err := take(s, "b:jsapi", 10, corp); !errors.As(err, &be) || be.Key != "corp" || be.Used != 3 {
			t.Fatalf("shared budget used up: %v", err)
		}
		if budgetUsed(t, s, rdb, "b:jsapi") != "1" {
			t.Fatal("the refusal of a shared budget cost b a daily unit")
		}
		// A refusal by the daily budget counts no window.
		if _, err := take(s, "c", 1, Budget{Key: "c", Limit: 5, Window: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if _, err := take(s, "c", 1, Budget{Key: "c", Limit: 5, Window: time.Minute}); !errors.As(err, &be) || be.Window != 0 {
			t.Fatalf("daily budget used up: %v", err)
		}
		if got := rdb.HGet(ctx, s.Keys().Window(Budget{Key: "c", Window: time.Minute}), "used").Val(); got != "1" {
			t.Fatalf("window counted %s after a daily refusal", got)
		}
		// The key expires when the window ends; an old window counts nothing.
		if pttl := rdb.PTTL(ctx, s.Keys().Window(corp)).Val(); pttl <= 0 || pttl > time.Hour {
			t.Fatalf("window key PTTL %s", pttl)
		}
		rdb.HSet(ctx, s.Keys().Window(corp), "window", "1")
		if _, err := take(s, "b:jsapi", 10, corp); err != nil {
			t.Fatalf("a new window: %v", err)
		}
		if _, err := take(s, "b:jsapi", 10, Budget{Key: "bad key"}); err == nil {
			t.Fatal("an invalid budget was accepted")
		}
		if _, err := take(s, "b:jsapi", 10, corp, corp); err == nil {
			t.Fatal("a budget given twice was accepted: one fetch would count twice")
		}
	})
}

// TestStore_TakeTicketBudgets_garbage: garbage in a window key costs no
// ticket and no unit anywhere: the take fails with a repaired
// *CorruptError, and the window reads as used up until it ends.
func TestStore_TakeTicketBudgets_garbage(t *testing.T) {
	forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		b := Budget{Key: "corp", Limit: 3, Window: time.Hour}
		key := s.Keys().Window(b)
		for _, garbage := range []func(){
			func() { rdb.HSet(ctx, key, "window", "x", "used", "1") },
			func() { rdb.Set(ctx, key, "x", 0) },
		} {
			rdb.Del(ctx, key)
			garbage()
			rdb.HSet(ctx, s.Keys().Budget("app"), "day", "junk") // also garbage: not repaired by a refusal
			ticket := rdb.Get(ctx, s.Keys().Ticket("app")).Val()
			_, err := take(s, "app", 10, b)
			var ce *CorruptError
			if !errors.As(err, &ce) || !ce.Repaired || ce.Key != key || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("garbage window: %v, want a repaired *CorruptError", err)
			}
			if rdb.Get(ctx, s.Keys().Ticket("app")).Val() != ticket || rdb.HGet(ctx, s.Keys().Budget("app"), "day").Val() != "junk" {
				t.Fatal("a refused ticket wrote")
			}
			if !log.has(s.Keys().Budget("app"), "day", false) {
				t.Fatalf("the daily garbage was reported repaired: %v", log.take())
			}
			log.take()
			var be *BudgetError
			if _, err := take(s, "app", 10, b); !errors.As(err, &be) || be.Key != "corp" {
				t.Fatalf("after the repair: %v, want the window used up", err)
			}
		}
	})
}
