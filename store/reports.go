package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event types published on the events channel.
const (
	EventToken    = "token"    // a token was written: App, Version
	EventReport   = "report"   // a bad token was reported for App
	EventReleased = "released" // the leader released the lease
)

// Event is one JSON message on the events channel.
type Event struct {
	Type    string `json:"type"`
	App     string `json:"app,omitempty"`
	Version int64  `json:"version,omitempty"`
}

// ParseEvent decodes an events-channel message.
func ParseEvent(payload string) (Event, error) {
	var ev Event
	if err := json.Unmarshal([]byte(payload), &ev); err != nil {
		return Event{}, fmt.Errorf("store: bad event: %w", err)
	}
	if ev.Type == "" {
		return Event{}, errors.New("store: bad event: no type")
	}
	return ev, nil
}

// Subscribe subscribes to the events channel. The caller closes the PubSub.
func (s *Store) Subscribe(ctx context.Context) *redis.PubSub {
	return s.rdb.Subscribe(ctx, s.keys.Events())
}

// Report records that app's token was rejected by the upstream (40001,
// 40014, 42001), for compare-and-refresh by the leader. It is the same two
// commands any client can send (idempotent; the report survives a leader
// change):
//
//	HSET {tokend}:reports <app> <token>
//	PUBLISH {tokend}:events {"type":"report","app":"<app>"}
func (s *Store) Report(ctx context.Context, app, token string) error {
	if err := checkApp(app); err != nil {
		return err
	}
	if token == "" {
		return errors.New("store: report needs the rejected token")
	}
	msg, _ := json.Marshal(Event{Type: EventReport, App: app})
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, s.keys.Reports(), app, token)
	pipe.Publish(ctx, s.keys.Events(), string(msg))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("store: report: %w", err)
	}
	return nil
}

// PendingReports returns the pending reports: app -> reported token.
// Entries with an invalid app id (written by hand) are skipped.
func (s *Store) PendingReports(ctx context.Context) (map[string]string, error) {
	all, err := s.rdb.HGetAll(ctx, s.keys.Reports()).Result()
	if err != nil {
		return nil, fmt.Errorf("store: pending reports: %w", err)
	}
	for app := range all {
		if !ValidApp(app) {
			delete(all, app)
		}
	}
	return all, nil
}

// PendingReport returns the token reported for app, or "" when none is
// pending.
func (s *Store) PendingReport(ctx context.Context, app string) (string, error) {
	if err := checkApp(app); err != nil {
		return "", err
	}
	tok, err := s.rdb.HGet(ctx, s.keys.Reports(), app).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: pending report: %w", err)
	}
	return tok, nil
}

// ClearReport deletes app's pending report if it still names token (a newer
// report of another token is kept). It reports whether it deleted.
func (s *Store) ClearReport(ctx context.Context, app, token string) (bool, error) {
	if err := checkApp(app); err != nil {
		return false, err
	}
	n, err := clearReportScript.Run(ctx, s.rdb, []string{s.keys.Reports()}, app, token).Int64()
	if err != nil {
		return false, fmt.Errorf("store: clear report: %w", err)
	}
	return n == 1, nil
}

// Status is the leader's view of an app, kept in Redis so that every replica
// can show it. It never holds a token or a secret.
type Status struct {
	NextRefresh   time.Time
	LastError     string // empty when the last fetch succeeded
	LastErrorCode int
	BudgetUsed    int
	UpdatedAt     time.Time
}

// SetStatus stores app's status.
func (s *Store) SetStatus(ctx context.Context, app string, st Status) error {
	if err := checkApp(app); err != nil {
		return err
	}
	err := s.rdb.HSet(ctx, s.keys.Status(app),
		"next_refresh", st.NextRefresh.UnixMilli(),
		"last_error", st.LastError,
		"last_error_code", st.LastErrorCode,
		"budget_used", st.BudgetUsed,
		"updated_at", st.UpdatedAt.UnixMilli(),
	).Err()
	if err != nil {
		return fmt.Errorf("store: set status: %w", err)
	}
	return nil
}

// Status reads app's status; the zero Status when none was stored.
func (s *Store) Status(ctx context.Context, app string) (Status, error) {
	if err := checkApp(app); err != nil {
		return Status{}, err
	}
	m, err := s.rdb.HGetAll(ctx, s.keys.Status(app)).Result()
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
		NextRefresh:   ms("next_refresh"),
		LastError:     m["last_error"],
		LastErrorCode: code,
		BudgetUsed:    used,
		UpdatedAt:     ms("updated_at"),
	}, nil
}
