package compat

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/utils/clock"

	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
)

// Bounds of the token index.
const (
	// maxTokenLen: a presented token longer than any tokend stores
	// (validated at fetch: at most 2048 bytes) is unknown without hashing.
	maxTokenLen = 2048
	// fullSyncEvery: a miss re-reads every indexed app at most this
	// often, and at most once per fullSyncPerApp per app, so unknown
	// tokens (a client's stale one, or an attacker's) cost one record read
	// per app per second at most, however many arrive.
	fullSyncEvery  = time.Second
	fullSyncPerApp = time.Millisecond
	// fullSyncTimeout bounds one re-read of every app.
	fullSyncTimeout = 2 * time.Second
	// classicOverlap is how long WeChat keeps a replaced token working
	// (UPSTREAM.md: 5 minutes, classic and stable alike).
	classicOverlap = 5 * time.Minute
)

// previousOverlap is how long the ticket routes accept the token an app's
// current one replaced, by provider: WeChat keeps a replaced token alive
// for 5 minutes; WeCom and DingTalk hand out the same token while it is
// valid, so a new one means the old one expired or was revoked (0).
func previousOverlap(provider string) time.Duration {
	switch provider {
	case "wechat", "wechat_stable", ComponentProvider: // a component token is treated like the classic one
		return classicOverlap
	}
	return 0
}

// digest is the index key of a token: its SHA-256. Raw tokens are never
// kept by the index.
type digest [sha256.Size]byte

// indexEntry is one accepted token: whose it is and until when.
type indexEntry struct {
	app   string
	until time.Time // on the index's clock
}

// tokenIndex maps each indexed app's current access token, and the token
// it replaced while that one's overlap lasts, to the app, by digest: the
// ticket routes find an app by the token presented, in O(1).
//
// It learns from Redis (store records), never from a client: after a token
// event of an indexed app it re-reads that app; after every
// (re)subscription, and on a miss (at most once per gap: fullSyncEvery, or
// fullSyncPerApp per app), it re-reads every indexed app. Nothing is read
// while nothing happens. Reads are serialized, so each app's records are
// seen in Redis order and a replaced token is known to be the previous
// one. What it does NOT promise: a replica that first sees an app after a
// rotation (started later, or missed the event) does not know the token
// that rotation replaced, and answers it like an unknown one; a rotation
// learnt late (a missed event healed by a miss) starts the overlap late.
//
// Safe for concurrent use.
type tokenIndex struct {
	overlap map[string]time.Duration // indexed apps and their overlap
	record  func(ctx context.Context, app string) (store.Record, error)
	clock   clock.PassiveClock
	log     *slog.Logger

	flight singleflight.Group // one full sync at a time
	// syncMu serializes reading records and installing them; it guards
	// lastFull.
	syncMu   sync.Mutex
	lastFull time.Time // start of the last full sync; zero: none yet

	// mu guards byDigest and apps.
	mu       sync.RWMutex
	byDigest map[digest]indexEntry
	apps     map[string]appTokens
}

// appTokens are the digests of an app's current token and of the one it
// replaced, both keys of byDigest.
type appTokens struct {
	cur, prev      digest
	known, hasPrev bool
}

func newTokenIndex(overlap map[string]time.Duration, record func(context.Context, string) (store.Record, error), clk clock.PassiveClock, log *slog.Logger) *tokenIndex {
	return &tokenIndex{
		overlap: overlap, record: record, clock: clk, log: log,
		byDigest: map[digest]indexEntry{}, apps: map[string]appTokens{},
	}
}

// lookup returns the app whose current (or overlapping previous) token is
// tok. A miss re-reads every app first, unless that was done less than a
// gap ago (syncGap).
func (x *tokenIndex) lookup(ctx context.Context, tok string) (string, bool) {
	if tok == "" || len(tok) > maxTokenLen {
		return "", false
	}
	d := digest(sha256.Sum256([]byte(tok)))
	if app, ok := x.find(d); ok {
		return app, true
	}
	x.syncAll(ctx, false)
	return x.find(d)
}

func (x *tokenIndex) find(d digest) (string, bool) {
	x.mu.RLock()
	e, ok := x.byDigest[d]
	x.mu.RUnlock()
	if !ok || !x.clock.Now().Before(e.until) {
		return "", false
	}
	return e.app, true
}

// run keeps the index current from the events of sub until ctx ends: a
// token event of an indexed app re-reads it; every (re)subscription
// re-reads all apps (events may have been missed meanwhile).
func (x *tokenIndex) run(ctx context.Context, sub *event.Subscription) {
	if sub == nil {
		<-ctx.Done()
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case n, ok := <-sub.C():
			if !ok {
				<-ctx.Done()
				return
			}
			switch {
			case n.Kind == event.KindSubscribed:
				x.syncAll(ctx, true)
			case n.Kind == event.KindEvent && n.Event.Type == event.Token:
				if _, indexed := x.overlap[n.Event.App]; indexed {
					x.syncApp(ctx, n.Event.App)
				}
			}
		}
	}
}

// syncGap is the least time between two full syncs a miss starts.
func (x *tokenIndex) syncGap() time.Duration {
	return max(fullSyncEvery, time.Duration(len(x.overlap))*fullSyncPerApp)
}

// syncAll re-reads every indexed app; unless force, not when the last full
// sync started less than syncGap ago. Concurrent callers share one
// sync (run under the first caller's ctx).
func (x *tokenIndex) syncAll(ctx context.Context, force bool) {
	ch := x.flight.DoChan("all", func() (any, error) {
		x.syncMu.Lock()
		defer x.syncMu.Unlock()
		now := x.clock.Now()
		if !force && !x.lastFull.IsZero() && now.Sub(x.lastFull) < x.syncGap() && now.Sub(x.lastFull) >= 0 {
			return nil, nil
		}
		last := x.lastFull
		x.lastFull = now
		sctx, cancel := context.WithTimeout(ctx, fullSyncTimeout)
		defer cancel()
		for app := range x.overlap {
			x.readLocked(sctx, app)
		}
		if ctx.Err() != nil { // cut short by its caller: the next miss tries again
			x.lastFull = last
		}
		return nil, nil
	})
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// syncApp re-reads one app.
func (x *tokenIndex) syncApp(ctx context.Context, app string) {
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, fullSyncTimeout)
	defer cancel()
	x.readLocked(sctx, app)
}

// readLocked reads app's record and installs it. A failed read changes
// nothing (an entry expires on its own). x.syncMu is held.
func (x *tokenIndex) readLocked(ctx context.Context, app string) {
	start := x.clock.Now()
	rec, err := x.record(ctx, app)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return
	case err != nil:
		x.log.Debug("api: compat token index: read failed", "app", app, "err", err)
		return
	}
	x.observe(app, rec, start)
}

// observe installs rec, read at now, as app's current token. A different
// token than the one known replaces it: the known one stays accepted for
// the app's overlap, never past its own expiry, and the one before it is
// forgotten (two entries per app at most). An invalid record (no live
// token) changes nothing.
func (x *tokenIndex) observe(app string, rec store.Record, now time.Time) {
	if !rec.Valid() {
		return
	}
	d := digest(sha256.Sum256([]byte(rec.Token)))
	x.mu.Lock()
	defer x.mu.Unlock()
	st := x.apps[app]
	if st.known && st.cur != d {
		if st.hasPrev && st.prev != d {
			delete(x.byDigest, st.prev)
		}
		st.hasPrev = false
		prev := x.byDigest[st.cur]
		if end := now.Add(x.overlap[app]); end.Before(prev.until) {
			prev.until = end
		}
		if now.Before(prev.until) {
			x.byDigest[st.cur] = prev
			st.prev, st.hasPrev = st.cur, true
		} else {
			delete(x.byDigest, st.cur)
		}
	}
	st.cur, st.known = d, true
	x.apps[app] = st
	x.byDigest[d] = indexEntry{app: app, until: now.Add(rec.TTL)}
}
