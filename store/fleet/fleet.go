// Package fleet owns the Redis keys the replicas keep about themselves
// rather than about a credential: the replica registry
// ({prefix}:replicas, which replicas run, seen on the Redis clock), the
// audit trail ({prefix}:audit, a capped stream of what they did) and the
// read of the leadership (the lease and the last term, written by package
// lock).
//
// It builds on package store (its key layout, client and corruption
// reports); store never imports it. What it does NOT promise: that a
// registry entry or an audit entry is current or complete (a killed
// replica's entry only turns stale; a full audit queue drops entries), or
// that the leader read is still true when the caller acts on it.
package fleet

import "github.com/tokend/tokend/store"

// Store is a store.Store with the fleet's keys. Every store.Store method
// is available on it. Safe for concurrent use.
type Store struct {
	*store.Store
}

// New returns the fleet view of st.
func New(st *store.Store) *Store { return &Store{Store: st} }

// wrongType hands a *store.CorruptError for key (of the wrong type) to
// Config.OnCorrupt and returns it.
func (s *Store) wrongType(key string) error {
	c := &store.CorruptError{Key: key, Detail: "wrong type"}
	s.NoteCorrupt(c)
	return c
}

// capString cuts v to at most n bytes.
func capString(v string, n int) string { return v[:min(len(v), n)] }
