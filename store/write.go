package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store/event"
)

// ErrNotRolledOver: the written value is the one stored, under a
// SameValue rule that keeps the stored expiry, and that expiry (minus the
// safety margin) has passed: the upstream still answers the old value and
// has not issued the next one yet. Nothing changed. Not a failure of the
// write: ask the upstream again later.
var ErrNotRolledOver = errors.New("store: the upstream answered the stored value past its expiry; not rolled over yet")

// SameValue says how a write of the value already stored (the token in
// the meta hash, kept after the token key expired) sets its expiry.
type SameValue int

const (
	// SameValueAsNew: like any value, expires_at = sent + ExpiresIn
	// (upstreams that issue a new value per call).
	SameValueAsNew SameValue = iota
	// SameValueKeepLater: the later of the stored expires_at and the
	// written one (upstreams whose expires_in is the true remaining life,
	// possibly extended).
	SameValueKeepLater
	// SameValueKeepStored: the stored expires_at, the first-seen one
	// (upstreams whose expires_in of a repeat does not shrink).
	SameValueKeepStored
)

// Write is one fenced token write.
type Write struct {
	App    string
	Ticket Ticket
	// Token is the raw token; never logged.
	Token string
	// ExpiresIn is the lifetime the upstream announced; expires_at is
	// Ticket.IssuedAt + ExpiresIn (counted from when the fetch started),
	// unless SameValue keeps the stored one.
	ExpiresIn time.Duration
	// SafetyMargin is taken off expires_at for the token key's TTL.
	SafetyMargin time.Duration
	// SameValue is the rule for a Token equal to the stored one; with a
	// rule that keeps an expiry, fetched_at stays the first-seen one too.
	// Default SameValueAsNew.
	SameValue SameValue
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
	case w.SameValue < SameValueAsNew || w.SameValue > SameValueKeepStored:
		return fmt.Errorf("store: write: unknown same-value rule %d", w.SameValue)
	}
	return nil
}

// WriteResult is the outcome of an accepted token write.
type WriteResult struct {
	// Version is the app's version after the write (the stored one for an
	// idempotent retry, or for a write that changed nothing readers see).
	Version int64
	// ExpiresAt and FetchedAt are the stored value's effective expiry and
	// first-seen time (Redis's clock), after the SameValue rule.
	ExpiresAt, FetchedAt time.Time
	// Changed: the written value differs from the one stored before (false
	// for an idempotent retry).
	Changed bool
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
// ErrExpired when the token would be written already expired, or
// ErrNotRolledOver for the stored value past its kept expiry.
//
// The value already stored (w.SameValue): its expiry follows the rule; a
// write that changes nothing readers see (same value, same expiry, token
// key in place) moves only the fence (ticket, epoch, leader), with no new
// version and no event.
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
	return s.writeToken(ctx, w, writeTokenScript, nil)
}

// writeToken runs script (write_token.lua, or a script built around it)
// with w's keys and arguments followed by extraKeys and extra.
func (s *Store) writeToken(ctx context.Context, w Write, script *redis.Script, extraKeys []string, extra ...any) (WriteResult, error) {
	keys := append([]string{s.keys.Token(w.App), s.keys.Meta(w.App), s.keys.Ticket(w.App)}, extraKeys...)
	evPrefix, evSuffix := event.TokenTemplate(w.App)
	args := append([]any{w.Ticket.N, w.Token, w.Ticket.IssuedAt.UnixMilli(), w.ExpiresIn.Milliseconds(),
		w.SafetyMargin.Milliseconds(), w.Epoch, w.Leader, s.keys.Events(), evPrefix, evSuffix, int(w.SameValue)}, extra...)
	cmd, acked, err := s.runScript(ctx, script, keys, args...)
	if err != nil {
		return WriteResult{}, fmt.Errorf("store: write token: %w", err)
	}
	n, corrupt, err := s.scriptReply(cmd, w.App, 6)
	if err != nil {
		return WriteResult{}, fmt.Errorf("store: write token: %w", err)
	}
	s.recs.noteCorrupt(corrupt)
	switch n[0] {
	case -4:
		return WriteResult{}, ErrWriteRefused
	case -1:
		return WriteResult{}, ErrStaleTicket
	case -2:
		return WriteResult{}, ErrExpired
	case -3:
		return WriteResult{ExpiresAt: time.UnixMilli(n[3]), FetchedAt: time.UnixMilli(n[4])}, ErrNotRolledOver
	}
	return WriteResult{
		Version: n[1], ExpiresAt: time.UnixMilli(n[3]), FetchedAt: time.UnixMilli(n[4]), Changed: n[5] == 1, Acked: acked,
	}, nil
}
