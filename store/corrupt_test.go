package store

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// corruptLog collects what a Store hands to Config.OnCorrupt.
type corruptLog struct {
	mu   sync.Mutex
	list []CorruptError
}

func (l *corruptLog) note(c *CorruptError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, *c)
}

func (l *corruptLog) take() []CorruptError {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.list
	l.list = nil
	return out
}

func (l *corruptLog) has(key, field string, repaired bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.list {
		if c.Key == key && c.Field == field && c.Repaired == repaired {
			return true
		}
	}
	return false
}

// forEachCorrupt is forEach with a Store whose OnCorrupt feeds a log.
func forEachCorrupt(t *testing.T, f func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog)) {
	forEach(t, func(t *testing.T, _ *Store, rdb *redis.Client) {
		log := &corruptLog{}
		s, err := New(Config{Client: rdb, Prefix: "tokend", OnCorrupt: log.note})
		if err != nil {
			t.Fatal(err)
		}
		f(t, s, rdb, log)
	})
}

func budgetUsed(t *testing.T, s *Store, rdb *redis.Client, app string) string {
	t.Helper()
	return rdb.HGet(context.Background(), s.Keys().Budget(app), "used").Val()
}

// TestStore_garbageMeta_writeRepairs: garbage in an app's meta hash or a
// wrong-typed token key (issue 11 item 6). Record fails closed naming the
// field; the next ticket is taken (one budget unit, as for any fetch) and
// its write cannot fail: token key and meta agree afterwards, and the
// version moves forward. Before the fix the write failed in Lua after the
// budget was counted ("attempt to compare number with nil"), or, for
// version, set the token key and left meta behind.
func TestStore_garbageMeta_writeRepairs(t *testing.T) {
	cases := []struct {
		name, field string
		spoil       func(ctx context.Context, s *Store, rdb *redis.Client)
		key         func(s *Store) string
	}{
		{"ticket garbage", "ticket", func(ctx context.Context, s *Store, rdb *redis.Client) {
			rdb.HSet(ctx, s.Keys().Meta("app"), "ticket", "garbage")
		}, func(s *Store) string { return s.Keys().Meta("app") }},
		{"ticket 1e400", "ticket", func(ctx context.Context, s *Store, rdb *redis.Client) {
			rdb.HSet(ctx, s.Keys().Meta("app"), "ticket", "1e400")
		}, func(s *Store) string { return s.Keys().Meta("app") }},
		{"version abc", "version", func(ctx context.Context, s *Store, rdb *redis.Client) {
			rdb.HSet(ctx, s.Keys().Meta("app"), "version", "abc")
		}, func(s *Store) string { return s.Keys().Meta("app") }},
		{"expires_at negative", "expires_at", func(ctx context.Context, s *Store, rdb *redis.Client) {
			rdb.HSet(ctx, s.Keys().Meta("app"), "expires_at", "-1")
		}, func(s *Store) string { return s.Keys().Meta("app") }},
		{"meta wrong type", "", func(ctx context.Context, s *Store, rdb *redis.Client) {
			rdb.Del(ctx, s.Keys().Meta("app"))
			rdb.RPush(ctx, s.Keys().Meta("app"), "x")
		}, func(s *Store) string { return s.Keys().Meta("app") }},
		{"token wrong type", "", func(ctx context.Context, s *Store, rdb *redis.Client) {
			rdb.Del(ctx, s.Keys().Token("app"))
			rdb.RPush(ctx, s.Keys().Token("app"), "x")
		}, func(s *Store) string { return s.Keys().Token("app") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog) {
				ctx := context.Background()
				holdLease(t, s, rdb)
				tk1, _ := s.TakeTicket(ctx, "app", lease, 0)
				if _, err := write(t, s, "app", "tok-1", tk1, time.Hour); err != nil {
					t.Fatal(err)
				}
				tc.spoil(ctx, s, rdb)
				_, err := s.Record(ctx, "app")
				var ce *CorruptError
				if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.Key != tc.key(s) || ce.Field != tc.field || ce.Repaired {
					t.Fatalf("Record: %v, want a *CorruptError for %s field %q", err, tc.key(s), tc.field)
				}
				if !log.has(tc.key(s), tc.field, false) {
					t.Fatalf("OnCorrupt not told: %v", log.take())
				}
				log.take()
				tk2, err := s.TakeTicket(ctx, "app", lease, 0)
				if err != nil || tk2.N <= tk1.N || tk2.BudgetUsed != 2 {
					t.Fatalf("TakeTicket = %+v, %v; want a ticket > %d and 2 used", tk2, err, tk1.N)
				}
				v, err := write(t, s, "app", "tok-2", tk2, time.Hour)
				if err != nil {
					t.Fatalf("write after garbage: %v", err)
				}
				if !log.has(tc.key(s), tc.field, true) {
					t.Fatalf("repair not reported: %v", log.take())
				}
				rec, err := s.Record(ctx, "app")
				if err != nil || rec.Token != "tok-2" || rec.Version != v || v <= 1 || rec.Ticket != tk2.N {
					t.Fatalf("after the write: %v %v (version %d)", rec, err, v)
				}
				if meta := rdb.HGet(ctx, s.Keys().Meta("app"), "token").Val(); meta != "tok-2" {
					t.Fatal("meta and token key disagree")
				}
			})
		})
	}
}

// TestStore_garbageMetaTicket_staleWriteLoses: with the meta ticket
// unparsable, the write is fenced by the newest ticket taken: a late write
// of an older fetch (a paused ex-leader) still loses (item 6).
func TestStore_garbageMetaTicket_staleWriteLoses(t *testing.T) {
	forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		tk1, _ := s.TakeTicket(ctx, "app", lease, 0)
		if _, err := write(t, s, "app", "tok-1", tk1, time.Hour); err != nil {
			t.Fatal(err)
		}
		older, _ := s.TakeTicket(ctx, "app", lease, 0)
		rdb.HSet(ctx, s.Keys().Meta("app"), "ticket", "garbage")
		newer, err := s.TakeTicket(ctx, "app", lease, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := write(t, s, "app", "late", older, time.Hour); !errors.Is(err, ErrStaleTicket) {
			t.Fatalf("older write: %v, want ErrStaleTicket", err)
		}
		if got := rdb.Get(ctx, s.Keys().Token("app")).Val(); got != "tok-1" {
			t.Fatalf("a refused write changed the token key to %q", got)
		}
		if _, err := write(t, s, "app", "tok-2", newer, time.Hour); err != nil {
			t.Fatalf("newest write: %v", err)
		}
	})
}

// TestStore_TakeTicket_garbageTicketKey: a garbage ticket key (item 7) is
// repaired to max(meta ticket + 1, Redis TIME) and the fetch is counted
// once; before the fix the budget was counted and then the script failed
// (or 1e400 gave a ticket <= 0).
func TestStore_TakeTicket_garbageTicketKey(t *testing.T) {
	for _, garbage := range []string{"garbage", "1e400", "-5", "9007199254740993", "12.5", "list"} {
		t.Run(garbage, func(t *testing.T) {
			forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog) {
				ctx := context.Background()
				holdLease(t, s, rdb)
				tk1, _ := s.TakeTicket(ctx, "app", lease, 0)
				if _, err := write(t, s, "app", "tok-1", tk1, time.Hour); err != nil {
					t.Fatal(err)
				}
				key := s.Keys().Ticket("app")
				if garbage == "list" {
					rdb.Del(ctx, key)
					rdb.RPush(ctx, key, "1")
				} else {
					rdb.Set(ctx, key, garbage, 0)
				}
				tk, err := s.TakeTicket(ctx, "app", lease, 0)
				if err != nil || tk.N <= tk1.N || tk.N < time.Now().Add(-time.Hour).UnixMilli() {
					t.Fatalf("TakeTicket = %+v, %v; want a ticket > %d based on TIME", tk, err, tk1.N)
				}
				if tk.BudgetUsed != 2 || budgetUsed(t, s, rdb, "app") != "2" {
					t.Fatalf("budget used %d, want 2", tk.BudgetUsed)
				}
				if got, err := rdb.Get(ctx, key).Int64(); err != nil || got != tk.N {
					t.Fatalf("ticket key = %d, %v; want %d", got, err, tk.N)
				}
				if !log.has(key, "", true) {
					t.Fatalf("repair not reported: %v", log.take())
				}
				if _, err := write(t, s, "app", "tok-2", tk, time.Hour); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestStore_TakeTicket_checksBeforeWriting: a refused ticket (no lease,
// budget used up) writes nothing, garbage or not (item 7).
func TestStore_TakeTicket_checksBeforeWriting(t *testing.T) {
	forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog) {
		ctx := context.Background()
		rdb.Set(ctx, s.Keys().Ticket("app"), "garbage", 0)
		if _, err := s.TakeTicket(ctx, "app", lease, 5); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("no lease: %v", err)
		}
		holdLease(t, s, rdb)
		day := strconv.FormatInt((time.Now().Add(BudgetDayOffset).Unix())/86400, 10)
		rdb.HSet(ctx, s.Keys().Budget("app"), "day", day, "used", "5")
		if _, err := s.TakeTicket(ctx, "app", lease, 5); !errors.Is(err, ErrBudgetExhausted) {
			t.Fatalf("budget used up: %v", err)
		}
		if got := rdb.Get(ctx, s.Keys().Ticket("app")).Val(); got != "garbage" || budgetUsed(t, s, rdb, "app") != "5" {
			t.Fatal("a refused ticket wrote")
		}
	})
}

// TestStore_TakeTicket_garbageBudget: a garbage or wrong-typed budget is
// reset (reported repaired), never a failure after a count.
func TestStore_TakeTicket_garbageBudget(t *testing.T) {
	forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		key := s.Keys().Budget("app")
		rdb.HSet(ctx, key, "day", "x", "used", "y")
		if tk, err := s.TakeTicket(ctx, "app", lease, 3); err != nil || tk.BudgetUsed != 1 {
			t.Fatalf("garbage budget: %+v %v", tk, err)
		}
		if !log.has(key, "used", true) || !log.has(key, "day", true) {
			t.Fatalf("repair not reported: %v", log.take())
		}
		rdb.Del(ctx, key)
		rdb.Set(ctx, key, "x", 0)
		if tk, err := s.TakeTicket(ctx, "app", lease, 3); err != nil || tk.BudgetUsed != 1 {
			t.Fatalf("wrong-typed budget: %+v %v", tk, err)
		}
		if !log.has(key, "", true) {
			t.Fatalf("repair not reported: %v", log.take())
		}
	})
}

// TestStore_WriteToken_retryIdempotent: the same ticket and token again (a
// write applied whose reply was lost) returns the stored version.
func TestStore_WriteToken_retryIdempotent(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		tk, _ := s.TakeTicket(ctx, "app", lease, 0)
		v1, err := write(t, s, "app", "tok-1", tk, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if v, err := write(t, s, "app", "tok-1", tk, time.Hour); err != nil || v != v1 {
				t.Fatalf("retry = %d, %v; want %d, nil", v, err, v1)
			}
		}
		if _, err := write(t, s, "app", "tok-other", tk, time.Hour); !errors.Is(err, ErrStaleTicket) {
			t.Fatalf("same ticket, other token: %v, want ErrStaleTicket", err)
		}
		rdb.Del(ctx, s.Keys().Token("app")) // evicted: the retry writes it again
		if v, err := write(t, s, "app", "tok-1", tk, time.Hour); err != nil || v != v1+1 {
			t.Fatalf("retry after eviction = %d, %v", v, err)
		}
		if got := rdb.Get(ctx, s.Keys().Token("app")).Val(); got != "tok-1" {
			t.Fatalf("token key %q", got)
		}
	})
}

// TestStore_TakeTicket_noCap: a budget <= 0 (refresher's -1) means no cap.
func TestStore_TakeTicket_noCap(t *testing.T) {
	s, rdb := backends()[0].open(t)
	holdLease(t, s, rdb)
	for _, b := range []int{0, -1} {
		if _, err := s.TakeTicket(context.Background(), "app", lease, b); err != nil {
			t.Fatalf("budget %d: %v", b, err)
		}
	}
}
