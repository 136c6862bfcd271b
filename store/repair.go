package store

import (
	"context"
	"fmt"

	"github.com/tokend/tokend/store/event"
)

// RepairRecord rebuilds app's meta hash from what is known, with no
// upstream call and no budget unit, when Record fails with ErrCorrupt and
// the token key still holds a live token: the leader calls it instead of
// fetching. It runs under the lease (ErrNotLeader otherwise), keeps every
// valid field and rebuilds the others: token from the token key,
// expires_at = now + its PTTL (conservative: earlier than the truth by the
// safety margin), fetched_at = now, ticket = the newest ticket taken - 1
// (the write of that newest fetch still wins, any older one loses),
// version + 1 (Redis TIME in ms when garbage: larger than any counter),
// and a token event is published, so every reader reloads. Each repair goes to Config.OnCorrupt. It then returns the
// record as Record reads it.
//
// It returns ErrNotFound when there is no live token to rebuild from (the
// token key is missing, expired or of the wrong type): fetch then; the
// token write replaces the record and cannot fail on it. When nothing is
// corrupt it changes nothing and returns the record.
func (s *Store) RepairRecord(ctx context.Context, app, leaseValue string) (Record, error) {
	if err := checkApp(app); err != nil {
		return Record{}, err
	}
	if leaseValue == "" {
		return Record{}, ErrNotLeader
	}
	keys := []string{s.keys.Lease(), s.keys.Token(app), s.keys.Meta(app), s.keys.Ticket(app)}
	evPrefix, evSuffix := event.TokenTemplate(app)
	// Unacknowledged or not, the repair is on the master; the record read
	// below reports what it holds.
	cmd, _, err := s.runScript(ctx, repairRecordScript, keys, leaseValue, s.keys.Events(), evPrefix, evSuffix)
	if err != nil {
		return Record{}, fmt.Errorf("store: repair record: %w", err)
	}
	n, corrupt, err := s.scriptReply(cmd, app, 2)
	if err != nil {
		return Record{}, fmt.Errorf("store: repair record: %w", err)
	}
	s.recs.noteCorrupt(corrupt)
	switch n[0] {
	case -1:
		return Record{}, ErrNotLeader
	case -2:
		return Record{}, ErrNotFound
	}
	return s.Record(ctx, app)
}
