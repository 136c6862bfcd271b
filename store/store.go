// Package store owns tokend's Redis contract: the key layout under the
// {prefix} hash tag, the fetch-ticket and fenced-write scripts, reads of an
// app's record, refresh reports and change events. The in-process token
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
// the lease is held: the lease value is passed in by the caller.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store/event"
)

var (
	// ErrNotLeader: the lease key does not hold the caller's lease value,
	// so no ticket was taken.
	ErrNotLeader = errors.New("store: lease not held")
	// ErrBudgetExhausted: the app's daily fetch budget is used up.
	ErrBudgetExhausted = errors.New("store: daily fetch budget exhausted")
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

// Client is what Store needs of a Redis client; redis.UniversalClient
// (standalone, Sentinel or Cluster) satisfies it.
type Client interface {
	RecordsClient
	HSet(ctx context.Context, key string, values ...interface{}) *redis.IntCmd
	HGet(ctx context.Context, key, field string) *redis.StringCmd
	HGetAll(ctx context.Context, key string) *redis.MapStringStringCmd
	Exists(ctx context.Context, keys ...string) *redis.IntCmd
	Publish(ctx context.Context, channel string, message interface{}) *redis.IntCmd
	Ping(ctx context.Context) *redis.StatusCmd
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

// Ticket is a fetch ticket: the fencing number of one upstream fetch.
type Ticket struct {
	N int64
	// IssuedAt is Redis TIME when the ticket was taken: the fetch's send
	// time on Redis's clock, from which expires_at is counted.
	IssuedAt time.Time
	// BudgetUsed counts the app's fetches today, this one included.
	BudgetUsed int
	// Acked: Config.MinReplicasAck replicas acknowledged the ticket within
	// Config.WaitTimeout (always true without MinReplicasAck). When false
	// the ticket is taken on the master only; tickets still grow after a
	// failover (they follow Redis TIME), so it may be used.
	Acked bool
}

// TakeTicket takes a fetch ticket for app, in one script: refused with
// ErrNotLeader unless the lease key holds leaseValue; refused with
// ErrBudgetExhausted when dailyBudget (> 0) fetches were already taken today;
// otherwise ticket = max(last ticket + 1, Redis TIME in ms). With
// Config.MinReplicasAck, Ticket.Acked says whether enough replicas
// acknowledged it.
//
// Redis content is input: before counting the fetch, the script checks
// every key of app the write depends on. A garbage ticket key is repaired
// (max(meta ticket + 1, Redis TIME)), a garbage budget hash is reset (no
// worse than the DEL anyone with write access could send), and garbage in
// the meta hash or a wrong-typed token key is left to the write, which
// replaces it and cannot fail on it. Each is handed to Config.OnCorrupt.
func (s *Store) TakeTicket(ctx context.Context, app, leaseValue string, dailyBudget int) (Ticket, error) {
	if err := checkApp(app); err != nil {
		return Ticket{}, err
	}
	if leaseValue == "" {
		return Ticket{}, ErrNotLeader
	}
	if dailyBudget > maxSafeInt {
		return Ticket{}, errors.New("store: take ticket: daily budget out of range")
	}
	dailyBudget = max(dailyBudget, 0) // <= 0: no cap
	keys := []string{s.keys.Lease(), s.keys.Ticket(app), s.keys.Budget(app), s.keys.Meta(app), s.keys.Token(app)}
	cmd, acked, err := s.runScript(ctx, takeTicketScript, keys, leaseValue, dailyBudget, int64(BudgetDayOffset/time.Second))
	if err != nil {
		return Ticket{}, fmt.Errorf("store: take ticket: %w", err)
	}
	n, corrupt, err := s.scriptReply(cmd, app, 3)
	if err != nil {
		return Ticket{}, fmt.Errorf("store: take ticket: %w", err)
	}
	s.recs.noteCorrupt(corrupt)
	switch n[0] {
	case -1:
		return Ticket{}, ErrNotLeader
	case -2:
		return Ticket{BudgetUsed: int(n[1])}, ErrBudgetExhausted
	}
	return Ticket{N: n[0], IssuedAt: time.UnixMilli(n[2]), BudgetUsed: int(n[1]), Acked: acked}, nil
}

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

// Write is one fenced token write.
type Write struct {
	App    string
	Ticket Ticket
	// Token is the raw token; never logged.
	Token string
	// ExpiresIn is the lifetime the upstream announced; expires_at is
	// Ticket.IssuedAt + ExpiresIn (counted from when the fetch started).
	ExpiresIn time.Duration
	// SafetyMargin is taken off expires_at for the token key's TTL.
	SafetyMargin time.Duration
	// Epoch and Leader identify the writer (term and replica id).
	Epoch  int64
	Leader string
}

func (w Write) check() error {
	switch {
	case w.Token == "" || w.Ticket.N <= 0:
		return errors.New("store: write needs a token and a ticket")
	case w.Ticket.N > maxSafeInt || w.Epoch < 0 || w.Epoch > maxSafeInt:
		return errors.New("store: write: ticket or epoch out of range")
	case w.Ticket.IssuedAt.UnixMilli() < 0 || w.ExpiresIn < 0 || w.SafetyMargin < 0 ||
		w.Ticket.IssuedAt.UnixMilli()+w.ExpiresIn.Milliseconds() > maxSafeInt:
		return errors.New("store: write: times out of range")
	}
	return nil
}

// WriteResult is the outcome of an accepted token write.
type WriteResult struct {
	// Version is the app's version after the write (the stored one for an
	// idempotent retry).
	Version int64
	// Acked: Config.MinReplicasAck replicas acknowledged the write within
	// Config.WaitTimeout (always true without MinReplicasAck). When false
	// the token is written on the master only: it may still reach the
	// replicas, or be lost if the master fails over first. Do not fetch
	// again because of it: a new fetch would retire this token.
	Acked bool
}

// WriteToken stores w if its ticket is greater than the stored token's: it
// sets the token key with PX = expires_at - margin - now, updates the meta
// hash, bumps version and publishes a token event, all in one script. It
// returns the new version (and, with Config.MinReplicasAck, whether enough
// replicas acknowledged it), ErrStaleTicket when a newer token is stored,
// or ErrExpired when the token would be written already expired.
//
// A retry is idempotent: when the stored token already has w's ticket and
// token (a write applied whose reply was lost), WriteToken returns the
// stored version and nil, writes nothing and publishes nothing.
//
// Redis content is input: every key is checked before the first write, and
// token key and meta hash are written together or not at all. A meta hash
// of the wrong type is replaced; a garbage meta field is overwritten; when
// the meta ticket is garbage the write is fenced by the newest ticket taken
// (accepted if w's ticket >= the ticket key), and a garbage version becomes
// the ticket number (larger than any counter, so every reader reloads).
// Each repair is handed to Config.OnCorrupt.
func (s *Store) WriteToken(ctx context.Context, w Write) (WriteResult, error) {
	if err := checkApp(w.App); err != nil {
		return WriteResult{}, err
	}
	if err := w.check(); err != nil {
		return WriteResult{}, err
	}
	keys := []string{s.keys.Token(w.App), s.keys.Meta(w.App), s.keys.Ticket(w.App)}
	evPrefix, evSuffix := event.TokenTemplate(w.App)
	cmd, acked, err := s.runScript(ctx, writeTokenScript, keys,
		w.Ticket.N, w.Token, w.Ticket.IssuedAt.UnixMilli(), w.ExpiresIn.Milliseconds(),
		w.SafetyMargin.Milliseconds(), w.Epoch, w.Leader, s.keys.Events(), evPrefix, evSuffix)
	if err != nil {
		return WriteResult{}, fmt.Errorf("store: write token: %w", err)
	}
	n, corrupt, err := s.scriptReply(cmd, w.App, 3)
	if err != nil {
		return WriteResult{}, fmt.Errorf("store: write token: %w", err)
	}
	s.recs.noteCorrupt(corrupt)
	switch n[0] {
	case -1:
		return WriteResult{}, ErrStaleTicket
	case -2:
		return WriteResult{}, ErrExpired
	}
	return WriteResult{Version: n[1], Acked: acked}, nil
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

// Leader is what Redis says about the current leadership.
type Leader struct {
	// Held: the lease key exists (someone leads).
	Held bool
	// ID and Epoch are of the last leader to start a term.
	ID    string
	Epoch int64
}

// Leader reads the lease and the last term (written by package lock). A
// wrong-typed epoch key or an unparsable epoch reads as no term.
func (s *Store) Leader(ctx context.Context) (Leader, error) {
	res, err := readLeaderScript.Run(ctx, s.rdb, []string{s.keys.Lease(), s.keys.Epoch()}).Slice()
	if err != nil {
		return Leader{}, fmt.Errorf("store: read leader: %w", err)
	}
	if len(res) != 3 {
		return Leader{}, fmt.Errorf("store: read leader: unexpected reply of %d values", len(res))
	}
	l := Leader{Held: toInt(res[0]) > 0 || toInt(res[0]) == -1, Epoch: toInt(res[1])}
	l.ID, _ = res[2].(string)
	return l, nil
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}
