// Package writer writes a fetched value through the store's fenced write
// with bounded retries of the same ticket: a fetched value is never
// thrown away because one write attempt failed. It decides nothing about
// what a refused write means for the credential; the refresher does.
package writer

import (
	"context"
	"errors"
	"time"

	"k8s.io/utils/clock"

	"github.com/tokend/tokend/store"
)

// Attempts bounds the attempts of one write; the first retry waits
// RetryWait, each next one twice as long.
const (
	Attempts  = 3
	RetryWait = 100 * time.Millisecond
)

// Store is what a write needs of package store.
type Store interface {
	WriteToken(ctx context.Context, w store.Write) (store.WriteResult, error)
	Record(ctx context.Context, app string) (store.Record, error)
}

// Write writes w, retrying a failed attempt with the same ticket. A write
// rejected as stale is checked against the stored record: an earlier
// attempt may have been applied with its answer lost. It returns
// store.ErrStaleTicket only when a newer value is stored, and
// store.ErrExpired or store.ErrNotRolledOver at once (a retry cannot
// change them).
func Write(ctx context.Context, st Store, clk clock.Clock, w store.Write) (store.WriteResult, error) {
	wait := RetryWait
	for attempt := 1; ; attempt++ {
		res, err := st.WriteToken(ctx, w)
		switch {
		case err == nil:
			return res, nil
		case errors.Is(err, store.ErrStaleTicket):
			return confirm(ctx, st, w)
		case errors.Is(err, store.ErrExpired) || errors.Is(err, store.ErrNotRolledOver):
			return res, err
		case attempt >= Attempts || ctx.Err() != nil:
			return res, err
		}
		select {
		case <-clk.After(wait):
		case <-ctx.Done():
			return res, err
		}
		wait *= 2
	}
}

// confirm: a write of w was rejected as stale. If Redis holds w's ticket
// and token, an earlier attempt was applied: a success.
func confirm(ctx context.Context, st Store, w store.Write) (store.WriteResult, error) {
	rec, err := st.Record(ctx, w.App)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.WriteResult{}, err
	}
	if rec.Ticket == w.Ticket.N && rec.Token == w.Token {
		return store.WriteResult{Version: rec.Version, ExpiresAt: rec.ExpiresAt, FetchedAt: rec.FetchedAt, Acked: true}, nil
	}
	return store.WriteResult{}, store.ErrStaleTicket
}
