package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestStore_RepairRecord_noFetch: with garbage in the meta hash and a live
// token, the leader rebuilds the record without an upstream call: the
// token stays, the version moves forward, the newest fetch's write still
// wins and an older one loses (issue 11 item 6: 0 upstream calls while a
// key is garbage).
func TestStore_RepairRecord_noFetch(t *testing.T) {
	for _, field := range []string{"ticket", "version", "expires_at", "fetched_at", "epoch", "wrong type"} {
		t.Run(field, func(t *testing.T) {
			forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog) {
				ctx := context.Background()
				holdLease(t, s, rdb)
				tk1, _ := s.TakeTicket(ctx, "app", lease, 0)
				v1, err := write(t, s, "app", "tok-1", tk1, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				older, _ := s.TakeTicket(ctx, "app", lease, 0) // an ex-leader's fetch
				newest, _ := s.TakeTicket(ctx, "app", lease, 0)
				if field == "wrong type" {
					rdb.Del(ctx, s.Keys().Meta("app"))
					rdb.RPush(ctx, s.Keys().Meta("app"), "x")
				} else {
					rdb.HSet(ctx, s.Keys().Meta("app"), field, "garbage")
				}
				if _, err := s.Record(ctx, "app"); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Record: %v", err)
				}
				if _, err := s.RepairRecord(ctx, "app", "not-the-lease"); !errors.Is(err, ErrNotLeader) {
					t.Fatalf("RepairRecord without the lease: %v", err)
				}
				rec, err := s.RepairRecord(ctx, "app", lease)
				if err != nil || rec.Token != "tok-1" || !rec.Valid() || rec.Version <= v1 {
					t.Fatalf("RepairRecord = %v, %v", rec, err)
				}
				if rec.ExpiresAt.Before(rec.Now) || rec.ExpiresAt.After(rec.Now.Add(time.Hour)) || rec.FetchedAt.After(rec.Now) {
					t.Fatalf("repaired times: expires %s fetched %s now %s", rec.ExpiresAt, rec.FetchedAt, rec.Now)
				}
				if budgetUsed(t, s, rdb, "app") != "3" {
					t.Fatal("the repair counted a fetch")
				}
				if !log.has(s.Keys().Meta("app"), map[bool]string{true: "", false: field}[field == "wrong type"], true) {
					t.Fatalf("repair not reported: %v", log.take())
				}
				if again, err := s.RepairRecord(ctx, "app", lease); err != nil || again.Version != rec.Version {
					t.Fatalf("second RepairRecord changed something: %v, %v", again, err)
				}
				if field == "ticket" || field == "wrong type" {
					if _, err := write(t, s, "app", "late", older, time.Hour); !errors.Is(err, ErrStaleTicket) {
						t.Fatalf("older write after the repair: %v, want ErrStaleTicket", err)
					}
				}
				if _, err := write(t, s, "app", "tok-2", newest, time.Hour); err != nil {
					t.Fatalf("newest write after the repair: %v", err)
				}
			})
		})
	}
}

// TestStore_RepairRecord_noLiveToken: nothing to rebuild from: ErrNotFound
// (the caller fetches) and nothing written.
func TestStore_RepairRecord_noLiveToken(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		rdb.HSet(ctx, s.Keys().Meta("app"), "version", "abc", "ticket", "1")
		if _, err := s.RepairRecord(ctx, "app", lease); !errors.Is(err, ErrNotFound) {
			t.Fatalf("RepairRecord: %v, want ErrNotFound", err)
		}
		if v := rdb.HGet(ctx, s.Keys().Meta("app"), "version").Val(); v != "abc" {
			t.Fatal("written without a token to rebuild from")
		}
	})
}
