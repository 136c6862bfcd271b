package fleet

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// forEach runs f on miniredis and on a redis-server, with a fleet Store
// and the raw client behind it.
func forEach(t *testing.T, f func(t *testing.T, s *Store, rdb *redis.Client)) {
	for _, name := range []string{"miniredis", "redis-server"} {
		t.Run(name, func(t *testing.T) {
			var rdb *redis.Client
			if name == "miniredis" {
				rdb = redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
				t.Cleanup(func() { rdb.Close() })
			} else {
				rdb = redisserver.Start(t).Client()
			}
			st, err := store.New(store.Config{Client: rdb, Prefix: "tokend"})
			if err != nil {
				t.Fatal(err)
			}
			f(t, New(st), rdb)
		})
	}
}

func TestStore_Leader(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		if l, err := s.Leader(ctx); err != nil || l.Held || l.ID != "" || l.Epoch != 0 {
			t.Fatalf("no leader yet: %+v %v", l, err)
		}
		if err := rdb.Set(ctx, s.Keys().Lease(), "lease-value-a", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		rdb.HSet(ctx, s.Keys().Epoch(), "epoch", 42, "leader", "a")
		if l, err := s.Leader(ctx); err != nil || !l.Held || l.ID != "a" || l.Epoch != 42 {
			t.Fatalf("leader: %+v %v", l, err)
		}
	})
}

func TestParseReplica(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	seen := func(d time.Duration) string {
		return `{"seen":` + strconv.FormatInt(now.Add(-d).UnixMilli(), 10) +
			`,"leader":true,"version":"v1","listen":"127.0.0.1:8080"}`
	}
	tests := []struct {
		name           string
		v              string
		stale, corrupt bool
	}{
		{"fresh", seen(time.Second), false, false},
		{"exactly a minute", seen(ReplicaStale), false, false},
		{"a minute and a ms", seen(ReplicaStale + time.Millisecond), true, false},
		{"seen in the future (skew)", seen(-time.Second), false, false},
		{"not json", "garbage", true, true},
		{"no seen", `{"leader":true}`, true, true},
		{"seen of the wrong type", `{"seen":"x"}`, true, true},
		{"empty", "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseReplica("r1", tt.v, now)
			if r.Stale != tt.stale || r.Corrupt != tt.corrupt || r.ID != "r1" {
				t.Fatalf("parseReplica(%q) = %+v, want stale %v corrupt %v", tt.v, r, tt.stale, tt.corrupt)
			}
			if !tt.corrupt && (!r.Leader || r.Version != "v1" || r.Listen != "127.0.0.1:8080") {
				t.Fatalf("fields lost: %+v", r)
			}
		})
	}
}

func TestStore_Replicas(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		if err := s.PutReplica(ctx, ReplicaInfo{ID: "r2", Version: "v1", Listen: ":8080"}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutReplica(ctx, ReplicaInfo{ID: "r1", Leader: true, Version: "v1"}); err != nil {
			t.Fatal(err)
		}
		rdb.HSet(ctx, ReplicasKey(s.Keys()), "r3", "garbage")
		old := `{"seen":1000,"leader":true,"version":"v0","listen":""}`
		rdb.HSet(ctx, ReplicasKey(s.Keys()), "r4", old)
		got, err := s.Replicas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 {
			t.Fatalf("Replicas = %+v, want 4 entries", got)
		}
		want := []struct {
			id                     string
			leader, stale, corrupt bool
		}{{"r1", true, false, false}, {"r2", false, false, false}, {"r3", false, true, true}, {"r4", true, true, false}}
		for i, w := range want {
			r := got[i]
			if r.ID != w.id || r.Leader != w.leader || r.Stale != w.stale || r.Corrupt != w.corrupt {
				t.Errorf("entry %d = %+v, want %+v", i, r, w)
			}
		}
		if got[1].Listen != ":8080" || got[1].Seen.IsZero() {
			t.Errorf("r2 = %+v", got[1])
		}
		if err := s.DeleteReplica(ctx, "r2"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Replicas(ctx); len(got) != 3 || got[1].ID != "r3" {
			t.Fatalf("after DeleteReplica: %+v", got)
		}
	})
}

func TestStore_Replicas_wrongType(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		rdb.Set(ctx, ReplicasKey(s.Keys()), "x", 0)
		if got, err := s.Replicas(ctx); !errors.Is(err, store.ErrCorrupt) || len(got) != 0 {
			t.Fatalf("Replicas over a string key: %v, %v; want ErrCorrupt", got, err)
		}
		if err := s.PutReplica(ctx, ReplicaInfo{ID: "r1"}); !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("PutReplica over a string key: %v; want ErrCorrupt", err)
		}
		if err := s.DeleteReplica(ctx, "r1"); err != nil {
			t.Fatalf("DeleteReplica over a string key: %v", err)
		}
	})
}

func TestStore_Audit(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		at := time.UnixMilli(1_800_000_000_123)
		for i := range 3 {
			e := AuditEntry{Time: at, Replica: "r1", App: "mp", Action: "refresh", Outcome: "config",
				Errcode: 40164 + i, Fingerprint: "abcd0123"}
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		rdb.XAdd(ctx, &redis.XAddArgs{Stream: AuditKey(s.Keys()), Values: []any{"time", "x", "errcode", "y", "junk", "z"}})
		got, err := s.RecentAudit(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("RecentAudit(3) = %d entries", len(got))
		}
		if g := got[0]; g.ID == "" || !g.Time.IsZero() || g.Errcode != 0 || g.App != "" {
			t.Errorf("garbage entry read as %+v, want zero fields", g)
		}
		want := AuditEntry{ID: got[1].ID, Time: at, Replica: "r1", App: "mp", Action: "refresh", Outcome: "config",
			Errcode: 40166, Fingerprint: "abcd0123"}
		if got[1] != want {
			t.Errorf("newest entry = %+v, want %+v", got[1], want)
		}
		if got[2].Errcode != 40165 {
			t.Errorf("order: %+v", got)
		}
	})
}

func TestStore_Audit_wrongType(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		rdb.Set(ctx, AuditKey(s.Keys()), "x", 0)
		if err := s.AppendAudit(ctx, AuditEntry{App: "mp"}); !errors.Is(err, store.ErrCorrupt) {
			t.Fatalf("AppendAudit over a string key: %v", err)
		}
		if got, err := s.RecentAudit(ctx, 5); !errors.Is(err, store.ErrCorrupt) || got != nil {
			t.Fatalf("RecentAudit over a string key: %v, %v", got, err)
		}
	})
}

func TestStore_Audit_capped(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	t.Run("redis-server", func(t *testing.T) {
		raw := redisserver.Start(t).Client()
		st, err := store.New(store.Config{Client: raw})
		if err != nil {
			t.Fatal(err)
		}
		s := New(st)
		ctx := context.Background()
		for range AuditMaxLen + 500 {
			if err := s.AppendAudit(ctx, AuditEntry{App: "mp", Action: "probe", Outcome: "ok"}); err != nil {
				t.Fatal(err)
			}
		}
		n := raw.XLen(ctx, AuditKey(s.Keys())).Val()
		// MAXLEN ~ trims whole radix-tree nodes (100 entries by default).
		if n < AuditMaxLen || n > AuditMaxLen+200 {
			t.Fatalf("XLEN = %d, want about %d", n, AuditMaxLen)
		}
		if !strings.HasPrefix(AuditKey(s.Keys()), "{tokend}:") {
			t.Fatal(AuditKey(s.Keys()))
		}
	})
}

// TestStore_deployACL_registryAndAudit: the registry and the audit stream
// work as deploy/redis-users.acl's tokend user (TIME, HSET, HDEL,
// HGETALL, XADD with MAXLEN ~, XREVRANGE).
func TestStore_deployACL_registryAndAudit(t *testing.T) {
	srv := redisserver.StartACL(t, "../../deploy/redis-users.acl")
	ctx := context.Background()
	st, err := store.New(store.Config{Client: srv.User("tokend", "change-me-tokend")})
	if err != nil {
		t.Fatal(err)
	}
	s := New(st)
	if err := s.PutReplica(ctx, ReplicaInfo{ID: "r1", Leader: true}); err != nil {
		t.Fatalf("PutReplica: %v", err)
	}
	if got, err := s.Replicas(ctx); err != nil || len(got) != 1 || got[0].Stale {
		t.Fatalf("Replicas: %+v, %v", got, err)
	}
	if err := s.DeleteReplica(ctx, "r1"); err != nil {
		t.Fatalf("DeleteReplica: %v", err)
	}
	if err := s.AppendAudit(ctx, AuditEntry{App: "mp", Action: "probe", Outcome: "ok"}); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if got, err := s.RecentAudit(ctx, 10); err != nil || len(got) != 1 {
		t.Fatalf("RecentAudit: %+v, %v", got, err)
	}
}

// TestStore_Audit_fieldsCapped: every string field is capped as written,
// so an entry naming whatever a request carried costs a bounded size.
func TestStore_Audit_fieldsCapped(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		long := strings.Repeat("A", 15000)
		if err := s.AppendAudit(ctx, AuditEntry{App: long, Client: long, Detail: long, Action: "token", Outcome: "denied"}); err != nil {
			t.Fatal(err)
		}
		msgs, err := rdb.XRange(ctx, AuditKey(s.Keys()), "-", "+").Result()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("stream: %v, %v", msgs, err)
		}
		for k, v := range msgs[0].Values {
			if str, _ := v.(string); len(str) > maxAuditField {
				t.Errorf("field %s kept %d bytes, want <= %d", k, len(str), maxAuditField)
			}
		}
	})
}
