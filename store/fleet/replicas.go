package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokend/tokend/store"
)

// ReplicaStale is the age after which a replica's registry entry is
// stale: the replica stopped without removing it (killed, cut off).
const ReplicaStale = time.Minute

// maxReplicas bounds how many registry entries Replicas returns (sorted by
// id): a hash filled by something else never makes status unbounded.
const maxReplicas = 256

// ReplicaInfo is what a replica writes about itself to the registry.
type ReplicaInfo struct {
	ID      string // the replica id (config replica_id)
	Leader  bool   // the replica leads (as it believed when writing)
	Version string // tokend's version
	Listen  string // the HTTP API's address, "" if none
}

// Replica is one registry entry as read back. Seen is the Redis TIME of
// its last write; Stale is set when Seen is more than ReplicaStale before
// the Redis TIME of the read, or unknown. Corrupt is set for an entry
// that is not the JSON tokend writes: its other fields are zero and it
// counts as stale.
type Replica struct {
	ReplicaInfo
	Seen    time.Time
	Stale   bool
	Corrupt bool
}

// replicaJSON is the CONTRACT value of a {prefix}:replicas field.
type replicaJSON struct {
	Seen    int64  `json:"seen"`
	Leader  bool   `json:"leader"`
	Version string `json:"version"`
	Listen  string `json:"listen"`
}

// ReplicasKey is the registry hash: field replica id, value JSON
// {"seen":unix ms,"leader":bool,"version":"..","listen":".."}.
func ReplicasKey(k store.Keys) string { return k.Tag() + ":replicas" }

// PutReplica writes r's registry entry, seen now on the Redis clock (TIME),
// so that every replica's entry is aged on one clock.
func (s *Store) PutReplica(ctx context.Context, r ReplicaInfo) error {
	if r.ID == "" {
		return fmt.Errorf("fleet: put replica: empty id")
	}
	now, err := s.Client().Time(ctx).Result()
	if err != nil {
		return fmt.Errorf("fleet: put replica: %w", err)
	}
	v, _ := json.Marshal(replicaJSON{Seen: now.UnixMilli(), Leader: r.Leader, Version: r.Version, Listen: r.Listen})
	err = s.Client().HSet(ctx, ReplicasKey(s.Keys()), r.ID, string(v)).Err()
	if store.IsWrongType(err) {
		return s.wrongType(ReplicasKey(s.Keys()))
	}
	if err != nil {
		return fmt.Errorf("fleet: put replica: %w", err)
	}
	return nil
}

// DeleteReplica removes id's registry entry (a clean shutdown).
func (s *Store) DeleteReplica(ctx context.Context, id string) error {
	err := s.Client().HDel(ctx, ReplicasKey(s.Keys()), id).Err()
	if err != nil && !store.IsWrongType(err) {
		return fmt.Errorf("fleet: delete replica: %w", err)
	}
	return nil
}

// Replicas reads the registry, sorted by id, at most maxReplicas entries,
// each aged against the Redis TIME of the read. A registry key of the
// wrong type returns no entries and a *CorruptError; an entry that does
// not parse is returned with Corrupt set.
func (s *Store) Replicas(ctx context.Context) ([]Replica, error) {
	// Two calls, not one MULTI: TIME has no key, so on Redis Cluster it
	// could not share a transaction with the registry's slot.
	now, err := s.Client().Time(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("fleet: replicas: %w", err)
	}
	m, err := s.Client().HGetAll(ctx, ReplicasKey(s.Keys())).Result()
	if store.IsWrongType(err) {
		return nil, s.wrongType(ReplicasKey(s.Keys()))
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: replicas: %w", err)
	}
	return parseReplicas(m, now), nil
}

// parseReplicas decodes registry fields m, aged against now.
func parseReplicas(m map[string]string, now time.Time) []Replica {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]Replica, 0, min(len(ids), maxReplicas))
	for _, id := range ids[:min(len(ids), maxReplicas)] {
		out = append(out, parseReplica(id, m[id], now))
	}
	return out
}

// parseReplica decodes one entry; garbage gives Corrupt and Stale. Strings
// are capped so that a huge value cannot bloat status.
func parseReplica(id, v string, now time.Time) Replica {
	r := Replica{ReplicaInfo: ReplicaInfo{ID: capString(id, 128)}}
	var j replicaJSON
	dec := json.NewDecoder(strings.NewReader(v))
	if err := dec.Decode(&j); err != nil || j.Seen <= 0 {
		r.Corrupt, r.Stale = true, true
		return r
	}
	r.Leader, r.Version, r.Listen = j.Leader, capString(j.Version, 64), capString(j.Listen, 128)
	r.Seen = time.UnixMilli(j.Seen)
	r.Stale = now.Sub(r.Seen) > ReplicaStale
	return r
}
