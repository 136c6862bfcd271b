package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
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
func (k Keys) AuthorizerSummaryKey(component string) string {
	return k.tag + ":authorizers_summary:" + component
}

// SetAuthorizerSummary writes component's summary.
func (s *Store) SetAuthorizerSummary(ctx context.Context, component string, sum AuthorizerSummary) error {
	if !ValidApp(component) {
		return ErrInvalidApp
	}
	err := s.rdb.HSet(ctx, s.keys.AuthorizerSummaryKey(component), "total", sum.Total, "valid", sum.Valid,
		"failing", sum.Failing, "needs_reauthorization", sum.NeedsReauthorization, "updated_at", sum.UpdatedAt.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("store: set authorizer summary: %w", err)
	}
	return nil
}

// AuthorizerSummary reads component's summary: ErrNotFound when none was
// written; unparsable fields read as 0.
func (s *Store) AuthorizerSummary(ctx context.Context, component string) (AuthorizerSummary, error) {
	if !ValidApp(component) {
		return AuthorizerSummary{}, ErrInvalidApp
	}
	m, err := s.rdb.HGetAll(ctx, s.keys.AuthorizerSummaryKey(component)).Result()
	if err != nil {
		return AuthorizerSummary{}, fmt.Errorf("store: read authorizer summary: %w", err)
	}
	if len(m) == 0 {
		return AuthorizerSummary{}, ErrNotFound
	}
	n := func(f string) int { v, _ := strconv.Atoi(m[f]); return v }
	ms, _ := strconv.ParseInt(m["updated_at"], 10, 64)
	return AuthorizerSummary{Total: n("total"), Valid: n("valid"), Failing: n("failing"),
		NeedsReauthorization: n("needs_reauthorization"), UpdatedAt: time.UnixMilli(ms)}, nil
}
