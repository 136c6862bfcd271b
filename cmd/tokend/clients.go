package main

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/fleet"
)

// clientDecision is the clients.Set's Observe: every decision is counted
// per client, action and outcome, and written to the audit trail when it
// refused a key (denied, limited) or allowed a refresh (a report or a
// forced refresh, with the client that asked). A request without any key
// is counted only: a probe without a key is not an event worth keeping.
//
// Refusals come from whoever can reach the port, key or not, so they are
// rate-limited (refusalGate) before they reach the log and the capped
// stream: a flood of bad requests cannot push the refreshes and
// leadership changes out of the trail. Metrics count every one.
func (d *daemon) clientDecision(dec clients.Decision) {
	d.metrics.ClientRequest(dec.Client, string(dec.Action), string(dec.Outcome))
	e, ok := decisionEntry(dec)
	if !ok {
		return
	}
	if !dec.Allowed {
		pass, skipped := d.refusals.allow(dec.Client + "|" + string(dec.Action) + "|" + dec.Reason + "|" + dec.Source.String())
		if !pass {
			return
		}
		if skipped > 0 {
			e.Detail += fmt.Sprintf("; %d more refusals not audited before this one", skipped)
		}
	}
	d.audit.add(e)
}

// decisionEntry is the audit entry of a decision, if it gets one. It
// names the client, the source and, for a key no client holds, the key's
// fingerprint: never a key.
func decisionEntry(dec clients.Decision) (fleet.AuditEntry, bool) {
	if dec.Reason == clients.ReasonNoKey || (dec.Allowed && dec.Action != clients.Refresh) {
		return fleet.AuditEntry{}, false
	}
	var detail []string
	if dec.Reason != "" {
		detail = append(detail, dec.Reason)
	}
	if dec.Source.IsValid() {
		detail = append(detail, "source "+dec.Source.String())
	}
	if dec.KeyFingerprint != "" {
		detail = append(detail, "key fingerprint "+dec.KeyFingerprint)
	}
	app := dec.App
	if !store.ValidCredential(app) { // from the request path: bounded before it is kept
		app = ""
	}
	return fleet.AuditEntry{Client: dec.Client, App: app, Action: string(dec.Action),
		Outcome: string(dec.Outcome), Detail: strings.Join(detail, "; ")}, true
}

// secretReloaded writes an audit entry for a secret_file change (field
// apps[i].secret_file; outcome changed, failed, recovered): never the
// secret.
func (a *auditObserver) secretReloaded(field, outcome string) {
	a.add(fleet.AuditEntry{Action: "secret_reload", Outcome: outcome, Detail: field})
}

// Bounds of the refusals' audit entries: at most one entry per (client,
// action, reason, source) per refusalEvery, and refusalRate per second
// overall after a burst of refusalBurst; refusalKeys bounds the memory.
const (
	refusalEvery = time.Minute
	refusalRate  = 1.0
	refusalBurst = 20
	refusalKeys  = 4096
)

// refusalGate decides which refused requests get an audit entry. Safe for
// concurrent use.
type refusalGate struct {
	clock clock.PassiveClock

	mu      sync.Mutex           // guards the fields below
	seen    map[string]time.Time // key -> its last entry
	tokens  float64              // the overall bucket
	last    time.Time            // the bucket's last refill
	skipped int                  // refusals not audited since the last entry
}

func newRefusalGate(clk clock.PassiveClock) *refusalGate {
	return &refusalGate{clock: clk, seen: map[string]time.Time{}, tokens: refusalBurst, last: clk.Now()}
}

// allow reports whether the refusal keyed key gets an entry, and how many
// were skipped since the last one that did.
func (g *refusalGate) allow(key string) (bool, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clock.Now()
	g.tokens = min(refusalBurst, g.tokens+now.Sub(g.last).Seconds()*refusalRate)
	g.last = now
	if t, ok := g.seen[key]; (ok && now.Sub(t) < refusalEvery) || g.tokens < 1 {
		g.skipped++
		return false, 0
	}
	if len(g.seen) >= refusalKeys {
		clear(g.seen)
	}
	g.tokens--
	g.seen[key] = now
	n := g.skipped
	g.skipped = 0
	return true, n
}
