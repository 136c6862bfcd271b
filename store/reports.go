package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Subscribe subscribes to the events channel: Records.Subscribe.
func (s *Store) Subscribe(ctx context.Context) *redis.PubSub { return s.recs.Subscribe(ctx) }

// Report records that app's token was rejected by the upstream:
// Records.Report, with a repair handed to Config.OnCorrupt.
func (s *Store) Report(ctx context.Context, app, token string) error {
	return s.recs.Report(ctx, app, token)
}

// pairs turns a flat field, value list into a map, skipping fields that
// are not valid app ids (written by hand).
func pairs(flat []any) map[string]string {
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		app, _ := flat[i].(string)
		tok, _ := flat[i+1].(string)
		if ValidCredential(app) {
			m[app] = tok
		}
	}
	return m
}

// PendingReports returns every pending report: app -> reported token.
// Entries with an invalid app id (written by hand) are skipped. It reads
// the whole reports hash, so its cost grows with ghost reports (ids no
// replica knows): prefer PendingReportsFor, and PruneReports. A reports
// key of the wrong type is deleted (Config.OnCorrupt is told) and nothing
// is pending.
func (s *Store) PendingReports(ctx context.Context) (map[string]string, error) {
	flat, err := s.recs.readReports(ctx, "all")
	if err != nil {
		return nil, fmt.Errorf("store: pending reports: %w", err)
	}
	return pairs(flat), nil
}

// PendingReportsFor returns the pending reports of apps: app -> reported
// token, for those that have one. Its cost depends on len(apps) only, not
// on the size of the reports hash. Every id must be valid (ErrInvalidApp).
// A reports key of the wrong type is deleted (Config.OnCorrupt is told)
// and nothing is pending.
func (s *Store) PendingReportsFor(ctx context.Context, apps []string) (map[string]string, error) {
	return s.recs.pendingReportsFor(ctx, apps)
}

// PendingReport returns the token reported for app, or "" when none is
// pending: Records.PendingReport, with a repair handed to
// Config.OnCorrupt.
func (s *Store) PendingReport(ctx context.Context, app string) (string, error) {
	return s.recs.PendingReport(ctx, app)
}

// PruneCount is how many fields of the reports hash one PruneReports call
// looks at (the COUNT of one HSCAN step).
const PruneCount = 500

// PruneReports removes reports of app ids not in known (ghosts: ids no
// replica serves, or invalid ids written by hand); reports of authorizers
// ("<component>/<appid>") of a known component are kept. Its work is bounded:
// each call runs one HSCAN step of about PruneCount fields, continuing
// where the previous call of this Store stopped, so a leader calling it
// periodically covers the whole hash in ceil(fields / PruneCount) calls.
// It returns how many fields it removed. A reports key of the wrong type
// is deleted (Config.OnCorrupt is told). Safe for concurrent use.
func (s *Store) PruneReports(ctx context.Context, known []string) (removed int, err error) {
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()
	vals, err := s.recs.readReports(ctx, "scan", s.pruneCursor, PruneCount)
	if err != nil {
		return 0, fmt.Errorf("store: prune reports: %w", err)
	}
	next, flat, err := scanReply(vals)
	if err != nil {
		return 0, fmt.Errorf("store: prune reports: %w", err)
	}
	set := make(map[string]struct{}, len(known))
	for _, app := range known {
		set[app] = struct{}{}
	}
	var ghosts []string
	for i := 0; i+1 < len(flat); i += 2 {
		app, _ := flat[i].(string)
		// An authorizer's report ("<component>/<appid>") is its
		// component's keeper's to clear (store/platform).
		comp, _, auth := strings.Cut(app, "/")
		if _, ok := set[app]; !ok && !(auth && isKnown(set, comp)) {
			ghosts = append(ghosts, app)
		}
	}
	if len(ghosts) > 0 {
		pipe := s.rdb.TxPipeline() // Client has no HDel of its own
		del := pipe.HDel(ctx, s.keys.Reports(), ghosts...)
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, fmt.Errorf("store: prune reports: %w", err)
		}
		removed = int(del.Val())
	}
	s.pruneCursor = next
	return removed, nil
}

func isKnown(set map[string]struct{}, id string) bool { _, ok := set[id]; return ok }

// scanReply decodes {cursor, flat field, value list}.
func scanReply(vals []any) (uint64, []any, error) {
	if len(vals) != 2 {
		return 0, nil, fmt.Errorf("unexpected scan reply of %d values", len(vals))
	}
	cur, _ := vals[0].(string)
	next, err := strconv.ParseUint(cur, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("unexpected scan cursor: %w", err)
	}
	flat, _ := vals[1].([]any)
	return next, flat, nil
}

// ClearReport deletes app's pending report if it still names token (a newer
// report of another token is kept). It reports whether it deleted. A
// reports key of the wrong type is deleted (Config.OnCorrupt is told):
// false, nil.
func (s *Store) ClearReport(ctx context.Context, app, token string) (bool, error) {
	if err := checkApp(app); err != nil {
		return false, err
	}
	res, err := clearReportScript.Run(ctx, s.rdb, []string{s.keys.Reports()}, app, token).Slice()
	if err != nil {
		return false, fmt.Errorf("store: clear report: %w", err)
	}
	if len(res) != 2 {
		return false, fmt.Errorf("store: clear report: unexpected reply of %d values", len(res))
	}
	s.recs.noteCorrupt(parseCorrupt(res[1], ""))
	n, _ := res[0].(int64)
	return n == 1, nil
}

// Status is the leader's view of a credential, kept in Redis so that every
// replica can show it. It never holds a token or a secret.
type Status struct {
	// Kind is the provider ("wechat", ...) or, for a ticket, its kind
	// ("jsapi", ...); Parent the token a ticket is fetched with ("" for a
	// token).
	Kind, Parent  string
	NextRefresh   time.Time
	LastError     string // empty when the last fetch succeeded
	LastErrorCode int
	BudgetUsed    int
	// Waiting is what the credential waits for besides its due time: ""
	// (nothing), "rollover" (the upstream still answers the stored value;
	// asked again at a bounded rate), "parent" (no usable parent token
	// yet) or "budget" (a budget refused the fetch). WaitingFor names the
	// parent or the budget ("daily", or the budget's key and window), and
	// WaitUntil is when a budget's window ends.
	Waiting, WaitingFor string
	WaitUntil           time.Time
	// Probe is the last probe's outcome ("ok", "rejected", "failed"; ""
	// when the credential is not probed).
	Probe     string
	UpdatedAt time.Time
}

// SetStatus stores app's status. A status key of the wrong type is
// replaced (Config.OnCorrupt is told): SetStatus writes every field.
func (s *Store) SetStatus(ctx context.Context, app string, st Status) error {
	if err := checkApp(app); err != nil {
		return err
	}
	err := s.setStatus(ctx, app, st)
	if isWrongType(err) {
		key := s.keys.Status(app)
		s.recs.noteCorrupt([]*CorruptError{{App: app, Key: key, Detail: "wrong type", Repaired: true}})
		pipe := s.rdb.TxPipeline() // Client has no Del of its own
		pipe.Del(ctx, key)
		if _, derr := pipe.Exec(ctx); derr != nil {
			return fmt.Errorf("store: set status: %w", derr)
		}
		err = s.setStatus(ctx, app, st)
	}
	if err != nil {
		return fmt.Errorf("store: set status: %w", err)
	}
	return nil
}

func (s *Store) setStatus(ctx context.Context, app string, st Status) error {
	return s.rdb.HSet(ctx, s.keys.Status(app),
		"kind", st.Kind,
		"parent", st.Parent,
		"next_refresh", st.NextRefresh.UnixMilli(),
		"last_error", st.LastError,
		"last_error_code", st.LastErrorCode,
		"budget_used", st.BudgetUsed,
		"waiting", st.Waiting,
		"waiting_for", st.WaitingFor,
		"wait_until", st.WaitUntil.UnixMilli(),
		"probe", st.Probe,
		"updated_at", st.UpdatedAt.UnixMilli(),
	).Err()
}

// Status reads app's status; the zero Status when none was stored.
// Unparsable fields read as zero; a status key of the wrong type returns
// the zero Status and a *CorruptError (the next SetStatus replaces it).
func (s *Store) Status(ctx context.Context, app string) (Status, error) {
	if err := checkApp(app); err != nil {
		return Status{}, err
	}
	m, err := s.rdb.HGetAll(ctx, s.keys.Status(app)).Result()
	if isWrongType(err) {
		c := &CorruptError{App: app, Key: s.keys.Status(app), Detail: "wrong type"}
		s.recs.noteCorrupt([]*CorruptError{c})
		return Status{}, c
	}
	if err != nil {
		return Status{}, fmt.Errorf("store: status: %w", err)
	}
	ms := func(k string) time.Time {
		n, err := strconv.ParseInt(m[k], 10, 64)
		if err != nil || n <= 0 {
			return time.Time{}
		}
		return time.UnixMilli(n)
	}
	code, _ := strconv.Atoi(m["last_error_code"])
	used, _ := strconv.Atoi(m["budget_used"])
	return Status{
		Kind:          m["kind"],
		Parent:        m["parent"],
		NextRefresh:   ms("next_refresh"),
		LastError:     m["last_error"],
		LastErrorCode: code,
		BudgetUsed:    used,
		Waiting:       m["waiting"],
		WaitingFor:    m["waiting_for"],
		WaitUntil:     ms("wait_until"),
		Probe:         m["probe"],
		UpdatedAt:     ms("updated_at"),
	}, nil
}
