package fleet

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store"
)

// AuditMaxLen is the approximate cap of the audit stream (XADD MAXLEN ~).
const AuditMaxLen = 10000

// maxAuditField caps each string field of an entry, written or read.
const maxAuditField = 200

// maxAuditRead bounds RecentAudit's limit.
const maxAuditRead = 500

// AuditEntry is one audit trail entry: what happened to which credential,
// on which replica. It never carries a token or key value: Fingerprint is
// store.Fingerprint of the token concerned, if any.
type AuditEntry struct {
	ID          string    // the stream entry id (set when read)
	Time        time.Time // when it happened (the writer's clock)
	Replica     string    // the replica that wrote it
	Client      string    // the client (clients[].name, "shared") that asked, "" if none
	App         string    // the credential id
	Action      string    // "refresh", "report", "probe", "leader", ...
	Outcome     string    // "ok", an error class, a report outcome, ...
	Errcode     int       // the upstream errcode, 0 if none
	Fingerprint string    // the token's fingerprint, "" if none
	Detail      string    // a short free-form note (an epoch, a version)
}

// AuditKey is the capped stream of audit entries (XADD MAXLEN ~
// AuditMaxLen).
func AuditKey(k store.Keys) string { return k.Tag() + ":audit" }

// AppendAudit adds e to the audit stream, trimming it to about
// AuditMaxLen entries. A key of the wrong type returns a *CorruptError.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) error {
	// Every field is capped as it is written (as RecentAudit caps what it
	// reads): an entry costs the stream a bounded size whatever it names.
	f := func(v string) string { return capString(v, maxAuditField) }
	err := s.Client().XAdd(ctx, &redis.XAddArgs{
		Stream: AuditKey(s.Keys()), MaxLen: AuditMaxLen, Approx: true,
		Values: []any{
			"time", e.Time.UnixMilli(), "replica", f(e.Replica), "client", f(e.Client), "app", f(e.App), "action", f(e.Action),
			"outcome", f(e.Outcome), "errcode", e.Errcode, "fp", f(e.Fingerprint), "detail", f(e.Detail),
		},
	}).Err()
	if store.IsWrongType(err) {
		return s.wrongType(AuditKey(s.Keys()))
	}
	if err != nil {
		return fmt.Errorf("fleet: audit: %w", err)
	}
	return nil
}

// RecentAudit returns the newest limit entries (at most 500), newest
// first. Fields that do not parse read as zero; a key of the wrong type
// returns no entries and a *CorruptError.
func (s *Store) RecentAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	limit = max(1, min(limit, maxAuditRead))
	msgs, err := s.Client().XRevRangeN(ctx, AuditKey(s.Keys()), "+", "-", int64(limit)).Result()
	if store.IsWrongType(err) {
		return nil, s.wrongType(AuditKey(s.Keys()))
	}
	if err != nil {
		return nil, fmt.Errorf("fleet: audit: %w", err)
	}
	out := make([]AuditEntry, 0, len(msgs))
	for _, m := range msgs {
		str := func(k string) string {
			v, _ := m.Values[k].(string)
			return capString(v, maxAuditField)
		}
		e := AuditEntry{
			ID: m.ID, Replica: str("replica"), Client: str("client"), App: str("app"), Action: str("action"),
			Outcome: str("outcome"), Fingerprint: str("fp"), Detail: str("detail"),
		}
		if ms, err := strconv.ParseInt(str("time"), 10, 64); err == nil && ms > 0 {
			e.Time = time.UnixMilli(ms)
		}
		e.Errcode, _ = strconv.Atoi(str("errcode"))
		out = append(out, e)
	}
	return out, nil
}
