package reader

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/tokend/tokend/store"
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

// Fingerprint identifies Value in logs without revealing it: see
// store.Fingerprint.
func (t Token) Fingerprint() string { return store.Fingerprint(t.Value) }

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
// protocol (store.Records.Report). Compare semantics: when this Reader already
// holds a valid token other than the reported one, the report is stale
// (the token has been replaced) and nothing is sent; call Token for the
// current one. The leader compares again, so a report it does not need is
// harmless. ReportInvalid does not wait; see ReportAndWait.
//
// One Reader sends at most one report of a given (app, token) a second:
// concurrent and repeated calls share it.
func (r *Reader) ReportInvalid(ctx context.Context, app, token string) error {
	e, err := r.reportEntry(app, token)
	if err != nil || e == nil {
		return err
	}
	return r.sendReport(ctx, app, token)
}
