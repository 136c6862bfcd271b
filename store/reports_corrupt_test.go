package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestStore_reports_wrongType: a wrong-typed reports key (item 8) is
// repaired by whichever call meets it first, reported with Repaired true,
// and the call succeeds; before the fix every call failed with WRONGTYPE
// until the key was deleted by hand.
func TestStore_reports_wrongType(t *testing.T) {
	calls := map[string]func(ctx context.Context, s *Store) error{
		"PendingReport": func(ctx context.Context, s *Store) error {
			tok, err := s.PendingReport(ctx, "app")
			if err == nil && tok != "" {
				err = fmt.Errorf("pending %q", tok)
			}
			return err
		},
		"PendingReports": func(ctx context.Context, s *Store) error {
			m, err := s.PendingReports(ctx)
			if err == nil && len(m) != 0 {
				err = fmt.Errorf("pending %v", m)
			}
			return err
		},
		"PendingReportsFor": func(ctx context.Context, s *Store) error {
			m, err := s.PendingReportsFor(ctx, []string{"app", "other"})
			if err == nil && len(m) != 0 {
				err = fmt.Errorf("pending %v", m)
			}
			return err
		},
		"ClearReport": func(ctx context.Context, s *Store) error {
			_, err := s.ClearReport(ctx, "app", "x")
			return err
		},
		"PruneReports": func(ctx context.Context, s *Store) error {
			_, err := s.PruneReports(ctx, []string{"app"})
			return err
		},
		"Report": func(ctx context.Context, s *Store) error {
			if err := s.Report(ctx, "app", "bad"); err != nil {
				return err
			}
			if tok, err := s.PendingReport(ctx, "app"); err != nil || tok != "bad" {
				return fmt.Errorf("after the repair: %q, %v", tok, err)
			}
			return nil
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog) {
				ctx := context.Background()
				rdb.Set(ctx, s.Keys().Reports(), "not a hash", 0)
				if err := call(ctx, s); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !log.has(s.Keys().Reports(), "", true) {
					t.Fatalf("repair not reported: %v", log.take())
				}
				if typ := rdb.Type(ctx, s.Keys().Reports()).Val(); typ != "hash" && typ != "none" {
					t.Fatalf("reports key is a %s after the repair", typ)
				}
			})
		})
	}
}

// TestStore_ghostReports: reports of unknown ids (item 9) are ignored by
// PendingReportsFor and removed by PruneReports in bounded steps.
func TestStore_ghostReports(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		const ghosts = 3000
		args := make([]any, 0, 2*ghosts)
		for i := range ghosts {
			args = append(args, fmt.Sprintf("ghost-%d", i), "x")
		}
		rdb.HSet(ctx, s.Keys().Reports(), args...)
		rdb.HSet(ctx, s.Keys().Reports(), "bad id!", "x")
		for _, app := range []string{"a", "b"} {
			if err := s.Report(ctx, app, "tok-"+app); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.PendingReportsFor(ctx, []string{"a", "b", "c"})
		if err != nil || len(got) != 2 || got["a"] != "tok-a" || got["b"] != "tok-b" {
			t.Fatalf("PendingReportsFor = %v, %v", got, err)
		}
		if m, _ := s.PendingReportsFor(ctx, nil); len(m) != 0 {
			t.Fatalf("PendingReportsFor(nil) = %v", m)
		}
		known := []string{"a", "b", "c"}
		total, calls := 0, 0
		for rdb.HLen(ctx, s.Keys().Reports()).Val() > 2 {
			n, err := s.PruneReports(ctx, known)
			if err != nil {
				t.Fatal(err)
			}
			if calls++; calls > 100 {
				t.Fatalf("ghosts left after %d calls", calls)
			}
			total += n
		}
		if total != ghosts+1 {
			t.Fatalf("removed %d, want %d", total, ghosts+1)
		}
		if b := backendName(t); b == "redis-server" && calls < 2 {
			t.Fatalf("one call removed all %d ghosts: not bounded", ghosts)
		}
		if got, _ := s.PendingReports(ctx); len(got) != 2 {
			t.Fatalf("known reports lost: %v", got)
		}
	})
}

// backendName is the forEach subtest name (miniredis ignores HSCAN COUNT).
func backendName(t *testing.T) string {
	name := t.Name()
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[i+1:]
		}
	}
	return name
}

// TestStore_status_wrongType: a wrong-typed status key fails its read
// closed (ErrCorrupt) and is replaced by the next SetStatus.
func TestStore_status_wrongType(t *testing.T) {
	forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog) {
		ctx := context.Background()
		rdb.Set(ctx, s.Keys().Status("app"), "x", 0)
		if _, err := s.Status(ctx, "app"); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Status: %v, want ErrCorrupt", err)
		}
		if err := s.SetStatus(ctx, "app", Status{LastError: "e", BudgetUsed: 2}); err != nil {
			t.Fatalf("SetStatus: %v", err)
		}
		if st, err := s.Status(ctx, "app"); err != nil || st.BudgetUsed != 2 {
			t.Fatalf("Status after repair: %+v, %v", st, err)
		}
		if !log.has(s.Keys().Status("app"), "", true) {
			t.Fatalf("repair not reported: %v", log.take())
		}
	})
}
