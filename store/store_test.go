package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tokend/tokend/integration/redisserver"

	"github.com/tokend/tokend/store/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const lease = "lease-value-a"

type backend struct {
	name string
	// open returns a store and the raw client behind it.
	open func(t *testing.T) (*Store, *redis.Client)
}

func newStore(t *testing.T, rdb *redis.Client) *Store {
	t.Helper()
	s, err := New(Config{Client: rdb, Prefix: "tokend"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func backends() []backend {
	return []backend{
		{"miniredis", func(t *testing.T) (*Store, *redis.Client) {
			mr := miniredis.RunT(t)
			rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			t.Cleanup(func() { rdb.Close() })
			return newStore(t, rdb), rdb
		}},
		{"redis-server", func(t *testing.T) (*Store, *redis.Client) {
			rdb := redisserver.Start(t).Client()
			return newStore(t, rdb), rdb
		}},
	}
}

func forEach(t *testing.T, f func(t *testing.T, s *Store, rdb *redis.Client)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			s, rdb := b.open(t)
			f(t, s, rdb)
		})
	}
}

func holdLease(t *testing.T, s *Store, rdb *redis.Client) {
	t.Helper()
	if err := rdb.Set(context.Background(), s.Keys().Lease(), lease, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestKeys_contract(t *testing.T) {
	k, err := NewKeys("")
	if err != nil {
		t.Fatal(err)
	}
	got := []string{k.Token("mp-main"), k.Meta("mp-main"), k.Lease(), k.Ticket("mp-main"), k.Events()}
	want := []string{"{tokend}:token:mp-main", "{tokend}:meta:mp-main", "{tokend}:lease", "{tokend}:ticket:mp-main", "{tokend}:events"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("key %d = %q, want %q", i, got[i], want[i])
		}
	}
	for _, p := range []string{"a{b", "x}", "with space", strings.Repeat("p", 65)} {
		if _, err := NewKeys(p); err == nil {
			t.Errorf("NewKeys(%q) accepted", p)
		}
	}
}

func TestValidApp(t *testing.T) {
	for id, want := range map[string]bool{
		"mp-main": true, "A.b_c-9": true, strings.Repeat("a", 64): true,
		"": false, strings.Repeat("a", 65): false, "a b": false, "a:b": false, "a{b}": false, "é": false, "a\n": false,
	} {
		if got := ValidApp(id); got != want {
			t.Errorf("ValidApp(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestStore_badAppRefused(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		bad := "x}:y"
		if _, err := s.TakeTicket(ctx, bad, lease, 0); !errors.Is(err, ErrInvalidApp) {
			t.Errorf("TakeTicket: %v", err)
		}
		if _, err := s.WriteToken(ctx, Write{App: bad, Token: "t", Ticket: Ticket{N: 1}}); !errors.Is(err, ErrInvalidApp) {
			t.Errorf("WriteToken: %v", err)
		}
		if _, err := s.Record(ctx, bad); !errors.Is(err, ErrInvalidApp) {
			t.Errorf("Record: %v", err)
		}
		if err := s.Report(ctx, bad, "t"); !errors.Is(err, ErrInvalidApp) {
			t.Errorf("Report: %v", err)
		}
		if n := rdb.DBSize(ctx).Val(); n != 1 {
			t.Errorf("keys after refused calls = %d, want only the lease", n)
		}
	})
}

func TestStore_TakeTicket_needsLease(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		if _, err := s.TakeTicket(ctx, "app", lease, 0); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("no lease: err = %v, want ErrNotLeader", err)
		}
		rdb.Set(ctx, s.Keys().Lease(), "someone-else", time.Minute)
		if _, err := s.TakeTicket(ctx, "app", lease, 0); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("other lease: err = %v, want ErrNotLeader", err)
		}
		if _, err := s.TakeTicket(ctx, "app", "", 0); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("empty lease value: err = %v, want ErrNotLeader", err)
		}
		if rdb.Exists(ctx, s.Keys().Ticket("app")).Val() != 0 {
			t.Fatal("a refused ticket was recorded")
		}
		holdLease(t, s, rdb)
		tk, err := s.TakeTicket(ctx, "app", lease, 0)
		if err != nil {
			t.Fatal(err)
		}
		if tk.N < time.Now().Add(-time.Hour).UnixMilli() || tk.IssuedAt.IsZero() {
			t.Fatalf("ticket %+v is not based on Redis TIME", tk)
		}
	})
}

func TestStore_TakeTicket_increasingAfterFlushAll(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		var last int64
		for i := range 50 {
			tk, err := s.TakeTicket(ctx, "app", lease, 0)
			if err != nil {
				t.Fatal(err)
			}
			if tk.N <= last {
				t.Fatalf("ticket %d: %d not greater than %d", i, tk.N, last)
			}
			last = tk.N
		}
		time.Sleep(2 * time.Millisecond) // the burst above may run ahead of TIME by a few ms
		rdb.FlushAll(ctx)
		holdLease(t, s, rdb)
		tk, err := s.TakeTicket(ctx, "app", lease, 0)
		if err != nil {
			t.Fatal(err)
		}
		if tk.N <= last-50 || tk.N < time.Now().Add(-time.Minute).UnixMilli() {
			t.Fatalf("after FlushAll ticket %d went back (last %d)", tk.N, last)
		}
	})
}

func TestStore_TakeTicket_budget(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		for i := 1; i <= 3; i++ {
			tk, err := s.TakeTicket(ctx, "app", lease, 3)
			if err != nil {
				t.Fatalf("fetch %d: %v", i, err)
			}
			if tk.BudgetUsed != i {
				t.Fatalf("fetch %d: BudgetUsed = %d", i, tk.BudgetUsed)
			}
		}
		before := rdb.Get(ctx, s.Keys().Ticket("app")).Val()
		tk, err := s.TakeTicket(ctx, "app", lease, 3)
		if !errors.Is(err, ErrBudgetExhausted) || tk.BudgetUsed != 3 {
			t.Fatalf("4th fetch: %+v %v, want ErrBudgetExhausted with 3 used", tk, err)
		}
		if after := rdb.Get(ctx, s.Keys().Ticket("app")).Val(); after != before {
			t.Fatal("a refused fetch took a ticket")
		}
		if _, err := s.TakeTicket(ctx, "other", lease, 3); err != nil {
			t.Fatalf("budget is per app: %v", err)
		}
		// Yesterday's count does not count today.
		rdb.HSet(ctx, s.Keys().Budget("app"), "day", "1")
		if _, err := s.TakeTicket(ctx, "app", lease, 3); err != nil {
			t.Fatalf("new day: %v", err)
		}
	})
}

func write(t *testing.T, s *Store, app, token string, tk Ticket, expiresIn time.Duration) (int64, error) {
	t.Helper()
	res, err := s.WriteToken(context.Background(), Write{
		App: app, Ticket: tk, Token: token, ExpiresIn: expiresIn, SafetyMargin: time.Minute, Epoch: 7, Leader: "a",
	})
	if err == nil && !res.Acked {
		t.Errorf("write without MinReplicasAck not acked")
	}
	return res.Version, err
}

func TestStore_WriteToken_andRecord(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		if _, err := s.Record(ctx, "app"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Record before any write: %v", err)
		}
		sub := s.Subscribe(ctx)
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil { // subscription confirmed
			t.Fatal(err)
		}
		tk, _ := s.TakeTicket(ctx, "app", lease, 0)
		v, err := write(t, s, "app", "tok-1", tk, 2*time.Hour)
		if err != nil || v != 1 {
			t.Fatalf("first write: v=%d err=%v", v, err)
		}
		if got := rdb.Get(ctx, s.Keys().Token("app")).Val(); got != "tok-1" {
			t.Fatalf("token key = %q", got)
		}
		pttl := rdb.PTTL(ctx, s.Keys().Token("app")).Val()
		if pttl <= 2*time.Hour-time.Minute-5*time.Second || pttl > 2*time.Hour-time.Minute {
			t.Fatalf("token PTTL %s, want about 1h59m (lifetime minus margin)", pttl)
		}
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Golden: the script publishes exactly the Go encoding.
		if want := event.Encode(event.Event{Type: event.Token, App: "app", Version: 1}); msg.Payload != want {
			t.Fatalf("event %q, want %q", msg.Payload, want)
		}
		rec, err := s.Record(ctx, "app")
		if err != nil {
			t.Fatal(err)
		}
		if rec.Token != "tok-1" || rec.Version != 1 || rec.Ticket != tk.N || rec.Epoch != 7 || rec.Leader != "a" || !rec.Valid() {
			t.Fatalf("record %+v", rec)
		}
		if got := rec.ExpiresAt.Sub(rec.FetchedAt); got != 2*time.Hour {
			t.Fatalf("expires_at - fetched_at = %s, want 2h", got)
		}
		if rec.TTL <= 0 || rec.TTL > 2*time.Hour || rec.Now.IsZero() {
			t.Fatalf("record TTL %s now %s", rec.TTL, rec.Now)
		}
		if strings.Contains(rec.String(), "tok-1") {
			t.Fatal("Record.String leaks the token")
		}
		if meta := rdb.HGet(ctx, s.Keys().Meta("app"), "token").Val(); meta != "tok-1" {
			t.Fatalf("meta token = %q", meta)
		}
		tk2, _ := s.TakeTicket(ctx, "app", lease, 0)
		if v, err := write(t, s, "app", "tok-2", tk2, 2*time.Hour); err != nil || v != 2 {
			t.Fatalf("second write: v=%d err=%v", v, err)
		}
	})
}

func TestStore_WriteToken_lowerTicketRejected(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		older, _ := s.TakeTicket(ctx, "app", lease, 0) // a paused ex-leader's fetch
		newer, _ := s.TakeTicket(ctx, "app", lease, 0)
		if _, err := write(t, s, "app", "new", newer, time.Hour); err != nil {
			t.Fatal(err)
		}
		before := rdb.HGetAll(ctx, s.Keys().Meta("app")).Val()
		pttl := rdb.PTTL(ctx, s.Keys().Token("app")).Val()
		for _, tk := range []Ticket{older, newer} { // lower, and equal
			if _, err := write(t, s, "app", "late", tk, 2*time.Hour); !errors.Is(err, ErrStaleTicket) {
				t.Fatalf("ticket %d: err = %v, want ErrStaleTicket", tk.N, err)
			}
		}
		after := rdb.HGetAll(ctx, s.Keys().Meta("app")).Val()
		if len(after) != len(before) || after["token"] != "new" || after["version"] != before["version"] {
			t.Fatalf("meta changed by a rejected write: %v -> %v", before, after)
		}
		if got := rdb.Get(ctx, s.Keys().Token("app")).Val(); got != "new" {
			t.Fatalf("token = %q after rejected write", got)
		}
		if rdb.PTTL(ctx, s.Keys().Token("app")).Val() > pttl {
			t.Fatal("a rejected write extended the TTL")
		}
	})
}

func TestStore_WriteToken_expiredRefused(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		tk, _ := s.TakeTicket(ctx, "app", lease, 0)
		tk.IssuedAt = tk.IssuedAt.Add(-2 * time.Hour) // fetched long ago
		if _, err := write(t, s, "app", "old", tk, 2*time.Hour); !errors.Is(err, ErrExpired) {
			t.Fatalf("err = %v, want ErrExpired", err)
		}
		if rdb.Exists(ctx, s.Keys().Token("app"), s.Keys().Meta("app")).Val() != 0 {
			t.Fatal("an expired write left keys behind")
		}
	})
}

func TestStore_WriteToken_needsTokenAndTicket(t *testing.T) {
	s, _ := backends()[0].open(t)
	if _, err := s.WriteToken(context.Background(), Write{App: "a", Ticket: Ticket{N: 1}}); err == nil {
		t.Fatal("empty token accepted")
	}
	if _, err := s.WriteToken(context.Background(), Write{App: "a", Token: "x"}); err == nil {
		t.Fatal("zero ticket accepted")
	}
}

func TestRecord_expiredTokenNotReturned(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := newStore(t, rdb)
	ctx := context.Background()
	holdLease(t, s, rdb)
	tk, _ := s.TakeTicket(ctx, "app", lease, 0)
	if _, err := write(t, s, "app", "tok", tk, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	mr.FastForward(2*time.Hour - time.Minute + time.Millisecond)
	rec, err := s.Record(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Valid() || rec.Token != "" || rec.TTL != 0 || rec.Version != 1 {
		t.Fatalf("record after expiry: %+v valid=%v", rec, rec.Valid())
	}
}

func TestNew_validates(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("nil client accepted")
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	if _, err := New(Config{Client: rdb, Prefix: "bad}"}); err == nil {
		t.Fatal("bad prefix accepted")
	}
}

func TestStore_Ping(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, _ *redis.Client) {
		if err := s.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
