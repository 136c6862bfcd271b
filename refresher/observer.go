package refresher

import "time"

// Observer receives the refresher's events, for metrics. Implementations
// must be safe for concurrent use and fast; labels passed are app ids and
// fixed words, never tokens.
type Observer interface {
	// Fetched: one upstream call; result is "ok" or the error class
	// ("retry", "config", "quota"); code the upstream errcode or 0.
	Fetched(app, result string, code int, took time.Duration)
	// Written: a token write was accepted, valid until expiresAt.
	Written(app string, expiresAt time.Time, budgetUsed int)
	// RejectedWrite: a newer ticket won; the fetched token was dropped.
	RejectedWrite(app string)
	// Report: a refresh report was handled; outcome is "refreshed",
	// "unchanged" (fetched, and the upstream answered the same value),
	// "stale" (the token was already replaced), or "cooldown".
	Report(app, outcome string)
	// Leading: leadership changed.
	Leading(leading bool, epoch int64)
	// Probed: a stored token was probed (App.Prober); outcome is "ok",
	// "rejected" (reported for a refresh) or "failed" (the probe itself
	// failed; nothing is known about the token).
	Probed(app, outcome string)
}

// TokenObserver is optionally implemented by an Observer that also wants
// each accepted write's token fingerprint (Fingerprint) and version, for
// an audit trail. Called right after Written, under the same rules.
type TokenObserver interface {
	WrittenToken(app, fingerprint string, version int64)
}

type nopObserver struct{}

func (nopObserver) Fetched(string, string, int, time.Duration) {}
func (nopObserver) Written(string, time.Time, int)             {}
func (nopObserver) RejectedWrite(string)                       {}
func (nopObserver) Report(string, string)                      {}
func (nopObserver) Leading(bool, int64)                        {}
func (nopObserver) Probed(string, string)                      {}
