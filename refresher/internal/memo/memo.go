// Package memo is what the refresher remembers per credential between
// checks, under one mutex: its last write (to write again if Redis loses
// it in a failover), a fetched value whose write failed (written before
// any new fetch), the due plan of each stored version, until when each
// token key should exist, the last status published, the last corrupt-key
// error, and the parent token a ticket's fetch was refused for. It holds
// tokens in memory only: it never logs, never does I/O, and decides
// nothing beyond which remembered write still applies. Safe for
// concurrent use.
package memo

import (
	"sync"
	"time"

	"github.com/tokend/tokend/refresher/internal/plan"
	"github.com/tokend/tokend/store"
)

// Plan is the due time picked for one stored version of a value; a
// re-check of an unchanged record keeps it (no jitter re-roll). Rollover:
// the value is paced (plan.Pace).
type Plan struct {
	Version, Ticket int64
	Due             time.Time
	Rollover        bool
}

// Memo is the refresher's memory. The zero value is not usable: New.
type Memo struct {
	mu        sync.Mutex // guards every map
	written   map[string]store.Write
	pending   map[string]store.Write
	plans     map[string]Plan
	keyUntil  map[string]time.Time
	published map[string]store.Status
	corrupt   map[string]string
	rejected  map[string]plan.Rejected
}

// New returns an empty Memo.
func New() *Memo {
	return &Memo{
		written: map[string]store.Write{}, pending: map[string]store.Write{}, plans: map[string]Plan{},
		keyUntil: map[string]time.Time{}, published: map[string]store.Status{}, corrupt: map[string]string{},
		rejected: map[string]plan.Rejected{},
	}
}

// SetWritten remembers w as the last write of its app (no longer pending).
func (m *Memo) SetWritten(w store.Write) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.written[w.App] = w
	delete(m.pending, w.App)
}

// Lost returns the last write of rec's app when Redis holds an older one
// (lower ticket): a failover dropped it. The upstream has retired the
// older token, so the newer one must be written again, while it lives.
func (m *Memo) Lost(rec store.Record) (store.Write, bool) {
	m.mu.Lock()
	w, ok := m.written[rec.App]
	m.mu.Unlock()
	if !ok || rec.Version == 0 || rec.Ticket >= w.Ticket.N {
		return store.Write{}, false
	}
	return w, writeValid(w, rec.Now)
}

// writeValid: w's token would still be written with a positive TTL at now
// (Redis's clock).
func writeValid(w store.Write, now time.Time) bool {
	return w.Ticket.IssuedAt.Add(w.ExpiresIn - w.SafetyMargin).After(now)
}

// SetPending remembers w, fetched, as not written yet.
func (m *Memo) SetPending(w store.Write) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending[w.App] = w
}

// Pending returns rec's app's fetched-but-unwritten value if it must be
// written before anything else: still valid and newer than the stored one.
// A pending value that Redis already holds (the write was applied but its
// answer lost) becomes the written one; a superseded or expired one is
// dropped.
func (m *Memo) Pending(rec store.Record) (store.Write, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.pending[rec.App]
	switch {
	case !ok:
		return store.Write{}, false
	case rec.Ticket == w.Ticket.N:
		m.written[w.App] = w
		delete(m.pending, w.App)
		return store.Write{}, false
	case rec.Ticket > w.Ticket.N || !writeValid(w, rec.Now):
		delete(m.pending, w.App)
		return store.Write{}, false
	}
	return w, true
}

// Forget drops app's pending and last writes (Redis refused them as
// stale or expired).
func (m *Memo) Forget(app string, written bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pending, app)
	if written {
		delete(m.written, app)
	}
}

// Plan returns the plan of rec's stored version, if one was picked.
func (m *Memo) Plan(rec store.Record) (Plan, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.plans[rec.App]
	return p, ok && p.Version == rec.Version && p.Ticket == rec.Ticket
}

// SetPlan remembers app's plan.
func (m *Memo) SetPlan(app string, p Plan) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.plans[app] = p
}

// SetKeyUntil notes until when (local clock) app's token key should exist
// (zero: it should not).
func (m *Memo) SetKeyUntil(app string, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if until.IsZero() {
		delete(m.keyUntil, app)
		return
	}
	m.keyUntil[app] = until
}

// KeyUntil is until when app's token key should exist (zero: not).
func (m *Memo) KeyUntil(app string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keyUntil[app]
}

// StatusChanged reports whether st differs from the last status published
// for app.
func (m *Memo) StatusChanged(app string, st store.Status) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, ok := m.published[app]
	return !ok || prev != st
}

// SetPublished remembers st as app's last published status.
func (m *Memo) SetPublished(app string, st store.Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.published[app] = st
}

// ForgetPublished forgets every published status (another leader may
// have written statuses meanwhile).
func (m *Memo) ForgetPublished() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.published)
}

// SetCorrupt remembers msg as app's corrupt-key error ("" forgets it) and
// returns the previous one.
func (m *Memo) SetCorrupt(app, msg string) (prev string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev = m.corrupt[app]
	if msg == "" {
		delete(m.corrupt, app)
	} else {
		m.corrupt[app] = msg
	}
	return prev
}

// SetRejected notes the parent token a ticket's fetch was refused for
// (the zero Rejected: none).
func (m *Memo) SetRejected(app string, rej plan.Rejected) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rej.Token == "" {
		delete(m.rejected, app)
		return
	}
	m.rejected[app] = rej
}

// Rejected returns the parent token a ticket's fetch was refused for.
func (m *Memo) Rejected(app string) plan.Rejected {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rejected[app]
}
