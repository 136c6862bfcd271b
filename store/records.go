package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store/event"
)

// RecordsClient is what Records needs of a Redis client: the scripts that
// read a record and the reports, one MULTI for a report, and the events
// subscription. redis.UniversalClient (standalone, Sentinel or Cluster)
// and every Client satisfy it.
type RecordsClient interface {
	redis.Scripter
	TxPipeline() redis.Pipeliner
	Subscribe(ctx context.Context, channels ...string) *redis.PubSub
}

// Records serves the calls of a token reader (package store/reader) on a
// RecordsClient: an app's record, the report protocol and the events
// subscription. A Store serves the same calls with the same code. Records
// is safe for concurrent use; it holds only its configuration.
type Records struct {
	rdb  RecordsClient
	keys Keys
	// onCorrupt is the Store's Config.OnCorrupt; nil from NewRecords.
	onCorrupt func(*CorruptError)
}

// NewRecords validates prefix (DefaultPrefix when empty) and returns a
// Records on rdb. Corrupt keys it finds are not reported beyond the
// errors it returns. It does no I/O.
func NewRecords(rdb RecordsClient, prefix string) (*Records, error) {
	if rdb == nil {
		return nil, fieldErr("Client", "required")
	}
	keys, err := NewKeys(prefix)
	if err != nil {
		return nil, fieldErr("Prefix", "must match [A-Za-z0-9_.:-]{1,64}")
	}
	return &Records{rdb: rdb, keys: keys}, nil
}

// Keys returns the key layout in use.
func (r *Records) Keys() Keys { return r.keys }

// Record reads app's record atomically (one script). It returns ErrNotFound
// when no token was ever written for app (or Redis lost it). It fails
// closed: when the token key has the wrong type or a meta field does not
// parse, it returns a *CorruptError (errors.Is ErrCorrupt) naming the first
// such key and field, and a Record with only App and Now set; a Store hands
// every problem found to Config.OnCorrupt. Record repairs nothing: the next
// token write does (TakeTicket and WriteToken never fail on these keys).
func (r *Records) Record(ctx context.Context, app string) (Record, error) {
	if err := checkApp(app); err != nil {
		return Record{}, err
	}
	res, err := readRecordScript.Run(ctx, r.rdb, []string{r.keys.Token(app), r.keys.Meta(app)}).Slice()
	if err != nil {
		return Record{}, fmt.Errorf("store: read record: %w", err)
	}
	if len(res) != 10 {
		return Record{}, fmt.Errorf("store: read record: unexpected reply of %d values", len(res))
	}
	rec := Record{App: app, Now: time.UnixMilli(toInt(res[8]))}
	corrupt := parseCorrupt(res[9], app)
	r.noteCorrupt(corrupt)
	if c := firstUnrepaired(corrupt); c != nil {
		return rec, c
	}
	if res[5] == nil {
		return rec, ErrNotFound
	}
	if tok, ok := res[0].(string); ok {
		rec.Token = tok
		if pttl := toInt(res[1]); pttl > 0 {
			rec.TTL = time.Duration(pttl) * time.Millisecond
		}
	}
	rec.ExpiresAt = time.UnixMilli(toInt(res[2]))
	rec.FetchedAt = time.UnixMilli(toInt(res[3]))
	rec.Ticket = toInt(res[4])
	rec.Version = toInt(res[5])
	rec.Epoch = toInt(res[6])
	rec.Leader, _ = res[7].(string)
	if !rec.Valid() {
		rec.Token, rec.TTL = "", 0
	}
	return rec, nil
}

// Subscribe subscribes to the events channel. The caller closes the PubSub.
func (r *Records) Subscribe(ctx context.Context) *redis.PubSub {
	return r.rdb.Subscribe(ctx, r.keys.Events())
}

// Report records that app's token was rejected by the upstream (40001,
// 40014, 42001), for compare-and-refresh by the leader. It is the same two
// commands any client can send (idempotent; the report survives a leader
// change), in one MULTI:
//
//	HSET {tokend}:reports <app> <token>
//	PUBLISH {tokend}:events {"type":"report","app":"<app>"}
//
// When the reports key has the wrong type, Report repairs it (deletes it:
// its content is unreadable anyway, and waiting clients report again),
// hands the repair to a Store's Config.OnCorrupt and sends the report
// again (nil error). A client whose ACL does not allow the repair
// (EVALSHA, DEL) gets a *CorruptError; the leader's next read of the
// reports repairs the key.
func (r *Records) Report(ctx context.Context, app, token string) error {
	if err := checkApp(app); err != nil {
		return err
	}
	if token == "" {
		return errors.New("store: report needs the rejected token")
	}
	err := r.report(ctx, app, token)
	if err == nil || !isWrongType(err) {
		return err
	}
	if _, rerr := r.readReports(ctx, "check"); rerr != nil {
		c := &CorruptError{Key: r.keys.Reports(), Detail: "wrong type"}
		r.noteCorrupt([]*CorruptError{c})
		return fmt.Errorf("store: report: %w (repair failed: %w)", c, rerr)
	}
	return r.report(ctx, app, token)
}

func (r *Records) report(ctx context.Context, app, token string) error {
	msg := event.Encode(event.Event{Type: event.Report, App: app})
	pipe := r.rdb.TxPipeline()
	pipe.HSet(ctx, r.keys.Reports(), app, token)
	pipe.Publish(ctx, r.keys.Events(), msg)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: report: %w", err)
	}
	return nil
}

func isWrongType(err error) bool { return err != nil && strings.Contains(err.Error(), "WRONGTYPE") }

// readReports runs reports_read.lua with args, hands any repair to
// noteCorrupt and returns its values.
func (r *Records) readReports(ctx context.Context, args ...any) ([]any, error) {
	res, err := reportsReadScript.Run(ctx, r.rdb, []string{r.keys.Reports()}, args...).Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("unexpected reply of %d values", len(res))
	}
	r.noteCorrupt(parseCorrupt(res[1], ""))
	vals, _ := res[0].([]any)
	return vals, nil
}

// PendingReport returns the token reported for app, or "" when none is
// pending. A reports key of the wrong type is deleted (a Store's
// Config.OnCorrupt is told) and "" is returned with a nil error.
func (r *Records) PendingReport(ctx context.Context, app string) (string, error) {
	m, err := r.pendingReportsFor(ctx, []string{app})
	if err != nil {
		return "", err
	}
	return m[app], nil
}

// reportsBatch bounds the app ids of one HMGET (Lua's unpack has a limit).
const reportsBatch = 1000

// pendingReportsFor is Store.PendingReportsFor.
func (r *Records) pendingReportsFor(ctx context.Context, apps []string) (map[string]string, error) {
	for _, app := range apps {
		if err := checkApp(app); err != nil {
			return nil, err
		}
	}
	out := make(map[string]string)
	for start := 0; start < len(apps); start += reportsBatch {
		batch := apps[start:min(start+reportsBatch, len(apps))]
		args := make([]any, 0, len(batch)+1)
		args = append(args, "get")
		for _, app := range batch {
			args = append(args, app)
		}
		vals, err := r.readReports(ctx, args...)
		if err != nil {
			return nil, fmt.Errorf("store: pending reports: %w", err)
		}
		for i, v := range vals {
			if tok, ok := v.(string); ok && i < len(batch) {
				out[batch[i]] = tok
			}
		}
	}
	return out, nil
}
