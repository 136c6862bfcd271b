package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Token is an access token as the Reader serves it. Its String, Format
// and LogValue redact Value: they show a fingerprint (the first 8
// hex digits of its SHA-256), the version and the expiry, so a Token can be
// logged or printed with any verb.
type Token struct {
	// Value is the raw access token.
	Value string
	// ExpiresAt is when the Reader stops serving the token, on the
	// Reader's clock (with a monotonic reading on the real clock): the
	// local time before the read plus the key's remaining TTL.
	ExpiresAt time.Time
	// Version is the app's write counter (the meta hash's version).
	Version int64
}

// Fingerprint identifies Value in logs without revealing it; "" for an
// empty token.
func (t Token) Fingerprint() string {
	if t.Value == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(t.Value))
	return hex.EncodeToString(sum[:4])
}

// String describes the token without its value.
func (t Token) String() string {
	if t.Value == "" {
		return "token(none)"
	}
	return fmt.Sprintf("token(v%d fp=%s expires=%s)", t.Version, t.Fingerprint(), t.ExpiresAt.UTC().Format(time.RFC3339))
}

// Format redacts like String, whatever the verb (%#v and %d included).
func (t Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue redacts like String.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("version", t.Version),
		slog.String("fp", t.Fingerprint()),
		slog.Time("expires_at", t.ExpiresAt),
	)
}

// ReportInvalid tells the leader that the upstream rejected token for app
// (errcode 40001, 40014 or 42001), with the store's refresh-request
// protocol (Store.Report). Compare semantics: when this Reader already
// holds a valid token other than the reported one, the report is stale
// (the token has been replaced) and nothing is sent; call Token for the
// current one. The leader compares again, so a report it does not need is
// harmless. ReportInvalid does not wait; see ReportAndWait.
func (r *Reader) ReportInvalid(ctx context.Context, app, token string) error {
	_, err := r.report(ctx, app, token)
	return err
}

// ReportAndWait reports token like ReportInvalid and waits, bounded by ctx,
// until the Reader holds a valid token other than it, which it returns.
// While it waits it reports again every second, in case a report of an
// older token replaced its own.
// When the reported token was already replaced it returns the current one
// at once.
func (r *Reader) ReportAndWait(ctx context.Context, app, token string) (Token, error) {
	e, err := r.report(ctx, app, token)
	if err != nil {
		return Token{}, err
	}
	poll := time.NewTicker(waitPoll) // heals a missed event sooner than resync
	defer poll.Stop()
	for {
		c := e.cur.Load()
		if c.valid(r.now()) && c.tok.Value != token {
			return c.tok, nil
		}
		select {
		case <-c.changed:
		case <-poll.C:
			if err := r.load(ctx, e); err != nil && !errors.Is(err, ErrNoToken) && ctx.Err() == nil {
				r.log.Debug("reload while waiting failed", "app", app, "err", err)
			}
			// The reports hash keeps one token per app: a late report of an
			// older token may have replaced ours, and the leader drops that
			// as stale. Report again (idempotent) while ours is current.
			if _, err := r.report(ctx, app, token); err != nil && ctx.Err() == nil {
				r.log.Debug("report while waiting failed", "app", app, "err", err)
			}
		case <-ctx.Done():
			return Token{}, fmt.Errorf("store: reader: waiting for a new token: %w", ctx.Err())
		case <-r.ctx.Done():
			return Token{}, ErrClosed
		}
	}
}

// report sends a report unless the cached token already differs.
func (r *Reader) report(ctx context.Context, app, token string) (*entry, error) {
	if token == "" {
		return nil, errors.New("store: report needs the rejected token")
	}
	e, err := r.entry(app)
	if err != nil {
		return nil, err
	}
	if c := e.cur.Load(); c.valid(r.now()) && c.tok.Value != token {
		return e, nil
	}
	_, err, _ = r.reports.Do(app+"\x00"+token, func() (any, error) {
		return nil, r.store.Report(ctx, app, token)
	})
	return e, err
}
