package platform

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store"
)

func TestStore_verifyTicket_newerWins(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, _ *redis.Client) {
		ctx := context.Background()
		if _, err := s.ReadVerifyTicket(ctx, "op"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("empty: %v, want store.ErrNotFound", err)
		}
		t0 := time.Unix(1_700_000_000, 0)
		steps := []struct {
			ticket string
			at     time.Time
			stored bool
			want   string
		}{
			{"t1", t0, true, "t1"},
			{"t1", t0, false, "t1"},                        // the same push twice
			{"t0", t0.Add(-10 * time.Minute), false, "t1"}, // an older push, late
			{"tx", t0, false, "t1"},                        // equal CreateTime: the first stays
			{"t2", t0.Add(time.Second), true, "t2"},        // one second newer
		}
		for i, st := range steps {
			stored, err := s.StoreVerifyTicket(ctx, "op", st.ticket, st.at)
			if err != nil || stored != st.stored {
				t.Fatalf("step %d: StoreVerifyTicket = %v, %v; want %v", i, stored, err, st.stored)
			}
			got, err := s.ReadVerifyTicket(ctx, "op")
			if err != nil || got.Ticket != st.want {
				t.Fatalf("step %d: read %v, %v; want %s", i, got, err, st.want)
			}
		}
		got, _ := s.ReadVerifyTicket(ctx, "op")
		if !got.CreateTime.Equal(t0.Add(time.Second)) || got.ReceivedAt.IsZero() || got.Age() < 0 || got.Age() > time.Minute {
			t.Errorf("read %v: create_time %v, received_at %v, age %s", got, got.CreateTime, got.ReceivedAt, got.Age())
		}
	})
}

func TestStore_verifyTicket_rejectsBadInput(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		for _, tc := range []struct {
			comp, ticket string
			at           time.Time
			want         error
		}{
			{"op/x", "t", time.Unix(1, 0), store.ErrInvalidApp},
			{"op", "", time.Unix(1, 0), ErrBadVerifyTicket},
			{"op", "t", time.Unix(-1, 0), ErrBadVerifyTicket},
		} {
			if _, err := s.StoreVerifyTicket(ctx, tc.comp, tc.ticket, tc.at); !errors.Is(err, tc.want) {
				t.Errorf("StoreVerifyTicket(%q, %q, %v) = %v, want %v", tc.comp, tc.ticket, tc.at, err, tc.want)
			}
		}
		if n := rdb.Exists(ctx, VerifyTicketKey(s.Keys(), "op")).Val(); n != 0 {
			t.Errorf("a rejected write left the key")
		}
	})
}

// TestStore_verifyTicket_garbage: garbage in the key reads as corrupt (no
// ticket to call with) and the next push replaces it.
func TestStore_verifyTicket_garbage(t *testing.T) {
	cases := []struct {
		name  string
		plant func(ctx context.Context, rdb *redis.Client, key string)
		field string
	}{
		{"wrong type", func(ctx context.Context, rdb *redis.Client, key string) { rdb.Set(ctx, key, "x", 0) }, ""},
		{"create_time not an integer", func(ctx context.Context, rdb *redis.Client, key string) {
			rdb.HSet(ctx, key, "ticket", "t", "create_time", "9e99", "received_at", "1")
		}, "create_time"},
		{"received_at missing", func(ctx context.Context, rdb *redis.Client, key string) {
			rdb.HSet(ctx, key, "ticket", "t", "create_time", "99999999999")
		}, "received_at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog) {
				ctx := context.Background()
				key := VerifyTicketKey(s.Keys(), "op")
				tc.plant(ctx, rdb, key)
				if _, err := s.ReadVerifyTicket(ctx, "op"); !errors.Is(err, store.ErrCorrupt) {
					t.Fatalf("read = %v, want store.ErrCorrupt", err)
				}
				if !log.has(key, tc.field, false) {
					t.Errorf("OnCorrupt not told of %s %q: %v", key, tc.field, log.take())
				}
				if stored, err := s.StoreVerifyTicket(ctx, "op", "fresh", time.Unix(1_700_000_000, 0)); err != nil || !stored {
					t.Fatalf("a push after garbage: %v, %v; want stored", stored, err)
				}
				if got, err := s.ReadVerifyTicket(ctx, "op"); err != nil || got.Ticket != "fresh" {
					t.Fatalf("read after the push = %v, %v", got, err)
				}
			})
		})
	}
}
