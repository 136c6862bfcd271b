// Package store owns tokend's Redis contract: the key layout under the
// {prefix} hash tag, the fetch-ticket script with its budgets (daily and
// windowed, all or nothing), the fenced-write script with its same-value
// rules (SameValue), reads of a credential's record, refresh reports and
// change events. The in-process token
// cache for business apps (library mode) is package store/reader; it reads
// through Records, the part of Store a client with only the reader's
// commands can serve.
//
// Fencing: a token write is accepted only if its ticket is greater than the
// ticket of the stored token, and tickets are taken in one script that checks
// the leader lease and uses max(last+1, Redis TIME ms). Writes are therefore
// ordered by when their fetch started as seen by Redis. What store does NOT
// promise: that the upstream still honours a token fetched before a newer
// one; see the README's "Fencing" section for the residual window.
//
// store knows nothing about upstreams or scheduling, and nothing about how
// the lease is held: the lease value is passed in by the caller. Nor does
// it know what a same-value rule is for: the caller picks it per upstream.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	// ErrNotLeader: the lease key does not hold the caller's lease value,
	// so no ticket was taken.
	ErrNotLeader = errors.New("store: lease not held")
	// ErrBudgetExhausted: a fetch budget of the credential (daily or
	// windowed) is used up; the *BudgetError returned says which.
	ErrBudgetExhausted = errors.New("store: fetch budget exhausted")
	// ErrStaleTicket: a token with a newer ticket is already stored; the
	// write was rejected and nothing changed.
	ErrStaleTicket = errors.New("store: stale ticket, a newer token is stored")
	// ErrExpired: the token would already be past its validity (minus the
	// safety margin) when written; nothing changed.
	ErrExpired = errors.New("store: token already expired")
	// ErrNotFound: no token was ever written for the app.
	ErrNotFound = errors.New("store: no record")
)

// BudgetDayOffset is added to Redis TIME before cutting days for the daily
// budget: WeChat counts quota days in China Standard Time (UTC+8).
const BudgetDayOffset = 8 * time.Hour

// Client is what Store and the packages built on it (store/platform,
// store/fleet) need of a Redis client; redis.UniversalClient (standalone,
// Sentinel or Cluster) satisfies it.
type Client interface {
	RecordsClient
	HSet(ctx context.Context, key string, values ...interface{}) *redis.IntCmd
	HGet(ctx context.Context, key, field string) *redis.StringCmd
	HGetAll(ctx context.Context, key string) *redis.MapStringStringCmd
	Exists(ctx context.Context, keys ...string) *redis.IntCmd
	Publish(ctx context.Context, channel string, message interface{}) *redis.IntCmd
	Ping(ctx context.Context) *redis.StatusCmd
	HDel(ctx context.Context, key string, fields ...string) *redis.IntCmd
	Time(ctx context.Context) *redis.TimeCmd
	XAdd(ctx context.Context, a *redis.XAddArgs) *redis.StringCmd
	XRevRangeN(ctx context.Context, stream, start, stop string, count int64) *redis.XMessageSliceCmd
	HScan(ctx context.Context, key string, cursor uint64, match string, count int64) *redis.ScanCmd
	HLen(ctx context.Context, key string) *redis.IntCmd
	TxPipeline() redis.Pipeliner
}

// Config configures a Store.
type Config struct {
	// Client is the Redis client. Required.
	Client Client
	// Prefix is the key prefix inside the hash tag. Default "tokend".
	Prefix string
	// MinReplicasAck, when > 0, makes TakeTicket and WriteToken send
	// `WAIT MinReplicasAck WaitTimeout` after their script on the same
	// connection and say in their result (Acked) whether enough replicas
	// acknowledged (see wait.go). Default 0: no WAIT.
	MinReplicasAck int
	// WaitTimeout bounds each WAIT; keep it below the client's read
	// timeout. Default DefaultWaitTimeout (250ms) when MinReplicasAck > 0.
	WaitTimeout time.Duration
	// ClientTimeout, when set, is the client's own read timeout (go-redis
	// ReadTimeout, tokend's redis.timeout): with MinReplicasAck > 0, New
	// rejects a WaitTimeout that is not below it, as the WAIT's reply is
	// read under it. Default 0: not checked.
	ClientTimeout time.Duration
	// OnCorrupt, when set, is called once for each corrupt key or field a
	// Store call finds (a wrong type, an unparsable field), whether it was
	// repaired (Repaired true) or not. Call it the place to log and count
	// them; it runs synchronously, so keep it fast, and it must be safe for
	// concurrent use. It never sees a value. Default nil: not reported
	// (a call that fails closed still returns its *CorruptError).
	//
	// From TakeTicket, entries with Repaired false name the meta hash or
	// the token key: the ticket is taken anyway, and the token write that
	// follows replaces them (it cannot fail on them).
	OnCorrupt func(*CorruptError)
}

// Store reads and writes one deployment's keys. It is safe for concurrent
// use; besides its configuration it holds only the PruneReports cursor.
type Store struct {
	rdb  Client
	keys Keys
	ack  replicaAck
	// recs serves the reads and reports a Records offers, on rdb with
	// Config.OnCorrupt.
	recs Records

	// pruneMu guards pruneCursor, the HSCAN cursor of PruneReports.
	pruneMu     sync.Mutex
	pruneCursor uint64
}

// FieldError is a Config field New rejects. Msg names other fields by
// their Go names (ClientTimeout), so that a caller can map them, with
// Field, to its own configuration's names.
type FieldError struct {
	Field string // "WaitTimeout"
	Msg   string // "must be less than ClientTimeout (1s)"
}

func (e *FieldError) Error() string { return "store: " + e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// New validates cfg and returns a Store. It does no I/O.
func New(cfg Config) (*Store, error) {
	if cfg.Client == nil {
		return nil, fieldErr("Client", "required")
	}
	keys, err := NewKeys(cfg.Prefix)
	if err != nil {
		return nil, fieldErr("Prefix", "must match [A-Za-z0-9_.:-]{1,64}")
	}
	ack, err := newReplicaAck(cfg)
	if err != nil {
		return nil, err
	}
	recs := Records{rdb: cfg.Client, keys: keys, onCorrupt: cfg.OnCorrupt}
	return &Store{rdb: cfg.Client, keys: keys, ack: ack, recs: recs}, nil
}

// Keys returns the key layout in use.
func (s *Store) Keys() Keys { return s.keys }

// scriptReply decodes a reply {int, ..., corrupt list} with want integers.
func (s *Store) scriptReply(cmd *redis.Cmd, app string, want int) ([]int64, []*CorruptError, error) {
	res, err := cmd.Slice()
	if err != nil {
		return nil, nil, err
	}
	if len(res) != want+1 {
		return nil, nil, fmt.Errorf("unexpected reply of %d values", len(res))
	}
	n := make([]int64, want)
	for i := range want {
		v, ok := res[i].(int64)
		if !ok {
			return nil, nil, fmt.Errorf("unexpected reply value %d", i)
		}
		n[i] = v
	}
	return n, parseCorrupt(res[want], app), nil
}

// Record is an app's stored state. Token is empty once the token key has
// expired; TTL is the token key's remaining time as Redis counts it.
// Record.String redacts the token.
type Record struct {
	App       string
	Token     string
	TTL       time.Duration
	ExpiresAt time.Time
	FetchedAt time.Time
	Ticket    int64
	Version   int64
	Epoch     int64
	Leader    string
	// Now is Redis TIME at the read, the clock ExpiresAt and FetchedAt
	// should be compared with.
	Now time.Time
}

// Valid reports whether the record holds a live token.
func (r Record) Valid() bool { return r.Token != "" && r.TTL > 0 }

// String describes the record without its token.
func (r Record) String() string {
	return fmt.Sprintf("record(app=%s version=%d ttl=%s ticket=%d)", r.App, r.Version, r.TTL, r.Ticket)
}

// Record reads app's record atomically: Records.Record, with corrupt keys
// handed to Config.OnCorrupt.
func (s *Store) Record(ctx context.Context, app string) (Record, error) {
	return s.recs.Record(ctx, app)
}

// toInt converts a reply value the script has already validated.
func toInt(v interface{}) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}
