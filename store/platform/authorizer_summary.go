package platform

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/tokend/tokend/store"
)

// AuthorizerSummary counts a component's authorizers by state, as the
// leader's keeper last saw them (status shows it instead of 10,000 rows).
type AuthorizerSummary struct {
	Total, Valid, Failing, NeedsReauthorization int
	// UpdatedAt is when the leader wrote it (its clock).
	UpdatedAt time.Time
}

// AuthorizerSummaryKey is the hash of component's AuthorizerSummary:
// fields total, valid, failing, needs_reauthorization, updated_at (unix
// ms).
func AuthorizerSummaryKey(k store.Keys, component string) string {
	return k.Tag() + ":authorizers_summary:" + component
}

// SetAuthorizerSummary writes component's summary.
func (s *Store) SetAuthorizerSummary(ctx context.Context, component string, sum AuthorizerSummary) error {
	if !store.ValidApp(component) {
		return store.ErrInvalidApp
	}
	err := s.rdb().HSet(ctx, AuthorizerSummaryKey(s.keys, component), "total", sum.Total, "valid", sum.Valid,
		"failing", sum.Failing, "needs_reauthorization", sum.NeedsReauthorization, "updated_at", sum.UpdatedAt.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("platform: set authorizer summary: %w", err)
	}
	return nil
}

// AuthorizerSummary reads component's summary: store.ErrNotFound when none was
// written; unparsable fields read as 0.
func (s *Store) AuthorizerSummary(ctx context.Context, component string) (AuthorizerSummary, error) {
	if !store.ValidApp(component) {
		return AuthorizerSummary{}, store.ErrInvalidApp
	}
	m, err := s.rdb().HGetAll(ctx, AuthorizerSummaryKey(s.keys, component)).Result()
	if err != nil {
		return AuthorizerSummary{}, fmt.Errorf("platform: read authorizer summary: %w", err)
	}
	if len(m) == 0 {
		return AuthorizerSummary{}, store.ErrNotFound
	}
	n := func(f string) int { v, _ := strconv.Atoi(m[f]); return v }
	ms, _ := strconv.ParseInt(m["updated_at"], 10, 64)
	return AuthorizerSummary{Total: n("total"), Valid: n("valid"), Failing: n("failing"),
		NeedsReauthorization: n("needs_reauthorization"), UpdatedAt: time.UnixMilli(ms)}, nil
}
