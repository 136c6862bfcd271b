package store

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestStore_pruneReports_keepsAuthorizers: reports of a known
// component's authorizers ("<component>/<appid>") are its keeper's to
// clear, not ghosts; those of an unknown component are.
func TestStore_pruneReports_keepsAuthorizers(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		for _, id := range []string{"op/wxa", "op/wxb", "gone/wxa", "ghost", "mp"} {
			if err := s.Report(ctx, id, "tok"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.PruneReports(ctx, []string{"op", "mp"}); err != nil {
			t.Fatal(err)
		}
		m, err := s.PendingReports(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 3 || m["op/wxa"] == "" || m["op/wxb"] == "" || m["mp"] == "" {
			t.Fatalf("after prune: %v, want op/wxa, op/wxb and mp", m)
		}
	})
}
