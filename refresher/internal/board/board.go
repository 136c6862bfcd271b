// Package board is the leader's bookkeeping for one term: when each
// credential's next check is due, which checks run, which credentials a
// failure's retry time or a report's cooldown holds back, which may have a
// report pending, and which tickets wait for their parent's token. It
// turns events (a report, a token write, a check's Result) into the next
// checks to start; it does no I/O, reads no clock (every method takes
// now) and runs no goroutine. Not safe for concurrent use: only the
// leader loop touches a Board.
package board

import (
	"time"

	"github.com/tokend/tokend/refresher/internal/sched"
)

// Result is the outcome of one check.
type Result struct {
	ID   string
	Next time.Time // when to check again (local clock)
	// Transient: a transient failure (the backoff grows). Failed: Next is
	// the error class's retry time; reports do not wake the credential
	// earlier. Hold: the same without a failure (a rollover).
	Transient, Failed, Hold bool
	// WaitParent: a ticket waiting for its parent's token to change.
	WaitParent bool
	// Wake is a credential to check at once (a ticket's parent, reported).
	Wake string
	// CooldownUntil: a pending report is held by the cooldown until then;
	// further reports need no Redis round trip.
	CooldownUntil time.Time
}

// Board is one term's bookkeeping. New makes one.
type Board struct {
	known    map[string]bool
	children map[string][]string // the tickets of each token
	due      *sched.Schedule     // next check of every credential not running
	inflight map[string]bool     // a check runs
	running  int                 // len(inflight)
	recheck  map[string]bool     // an event arrived while running
	attempts map[string]int      // consecutive transient failures
	// blocked holds, after a failed check, when the error class allows the
	// next attempt (backoff, slow retry, quota day, budget window).
	blocked map[string]time.Time
	// cooldown holds, for a credential whose pending report the last check
	// found held by the cooldown, when the cooldown ends.
	cooldown map[string]time.Time
	// hinted: a report may be pending (event or poll); hintRun: the
	// running check was hinted.
	hinted, hintRun map[string]bool
	waitParent      map[string]bool // tickets waiting for their parent
}

// New returns a Board for ids, each due at now with a report hint (the
// sweep on gaining leadership); children are the tickets of each token.
func New(ids []string, children map[string][]string, now time.Time) *Board {
	b := &Board{
		known: map[string]bool{}, children: children, due: sched.New(), inflight: map[string]bool{},
		recheck: map[string]bool{}, attempts: map[string]int{}, blocked: map[string]time.Time{},
		cooldown: map[string]time.Time{}, hinted: map[string]bool{}, hintRun: map[string]bool{},
		waitParent: map[string]bool{},
	}
	for _, id := range ids {
		b.known[id] = true
		b.due.Set(id, now)
		b.hinted[id] = true
	}
	return b
}

// Running reports whether id's check runs.
func (b *Board) Running(id string) bool { return b.inflight[id] }

// Reported handles a report of id (event or poll). While the last check
// found the report held by the cooldown, nothing is done: that check
// already scheduled id for the cooldown's end.
func (b *Board) Reported(id string, now time.Time) {
	if !b.known[id] {
		return
	}
	if until, ok := b.cooldown[id]; ok && until.After(now) {
		return
	}
	b.hinted[id] = true
	b.Wake(id, now)
}

// Wake schedules id's check now, or right after the running one, or when
// its failure's retry time allows.
func (b *Board) Wake(id string, now time.Time) {
	if !b.known[id] {
		return
	}
	if b.inflight[id] {
		b.recheck[id] = true
		return
	}
	at := now
	if until, ok := b.blocked[id]; ok && until.After(at) {
		at = until
	}
	if cur, ok := b.due.At(id); ok && !cur.After(at) {
		return // already due as early
	}
	b.due.Set(id, at)
}

// ParentWritten: id's token was written. Its tickets waiting for it are
// checked now; a ticket whose check runs is checked again after it (the
// check may have read the parent before this write).
func (b *Board) ParentWritten(id string, now time.Time) {
	for _, c := range b.children[id] {
		switch {
		case b.inflight[c]:
			b.recheck[c] = true
		case b.waitParent[c]:
			delete(b.waitParent, c)
			b.Wake(c, now)
		}
	}
}

// NextIn is how long until the earliest due check, at most limit. With
// workers checks running, a Result wakes the loop instead.
func (b *Board) NextIn(now time.Time, workers int, limit time.Duration) time.Duration {
	if e, ok := b.due.Peek(); ok && b.running < workers {
		limit = min(limit, e.At.Sub(now))
	}
	return max(limit, 0)
}

// Start takes the next check due at now, unless workers checks run: its
// id, its consecutive transient failures, and whether a report may be
// pending. The caller runs it and hands its Result to Finish.
func (b *Board) Start(now time.Time, workers int) (id string, attempts int, hint, ok bool) {
	if b.running >= workers {
		return "", 0, false, false
	}
	if id, ok = b.due.PopDue(now); !ok {
		return "", 0, false, false
	}
	b.inflight[id] = true
	b.running++
	hint = b.hinted[id]
	delete(b.hinted, id)
	b.hintRun[id] = hint
	return id, b.attempts[id], hint, true
}

// Finish records a check's result and schedules the credential's next
// check.
func (b *Board) Finish(res Result, now time.Time) {
	id := res.ID
	delete(b.inflight, id)
	b.running--
	if b.hintRun[id] && (res.Failed || !res.CooldownUntil.IsZero() || res.WaitParent) {
		b.hinted[id] = true // the report is still pending: the next check must read it
	}
	delete(b.hintRun, id)
	if res.Transient {
		b.attempts[id]++
	} else {
		b.attempts[id] = 0
	}
	b.due.Set(id, res.Next)
	setIf(b.blocked, id, res.Next, res.Failed || res.Hold)
	setIf(b.cooldown, id, res.CooldownUntil, !res.CooldownUntil.IsZero())
	setIf(b.waitParent, id, true, res.WaitParent)
	if res.Wake != "" {
		b.Reported(res.Wake, now)
	}
	if b.recheck[id] {
		delete(b.recheck, id)
		b.Reported(id, now)
	}
}

// setIf sets m[k] = v when cond holds, else deletes it.
func setIf[V any](m map[string]V, k string, v V, cond bool) {
	if cond {
		m[k] = v
	} else {
		delete(m, k)
	}
}
