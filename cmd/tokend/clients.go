package main

import (
	"strings"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"
	"github.com/tokend/tokend/store"
)

// clientDecision is the clients.Set's Observe: every decision is counted
// per client, action and outcome, and written to the audit trail when it
// refused a key (denied, limited) or allowed a refresh (a report or a
// forced refresh, with the client that asked). A request without any key
// is counted only: a probe without a key is not an event worth keeping.
func (d *daemon) clientDecision(dec clients.Decision) {
	d.metrics.ClientRequest(dec.Client, string(dec.Action), string(dec.Outcome))
	if e, ok := decisionEntry(dec); ok {
		d.audit.add(e)
	}
}

// decisionEntry is the audit entry of a decision, if it gets one. It
// names the client, the source and, for a key no client holds, the key's
// fingerprint: never a key.
func decisionEntry(dec clients.Decision) (store.AuditEntry, bool) {
	if dec.Reason == clients.ReasonNoKey || (dec.Allowed && dec.Action != clients.Refresh) {
		return store.AuditEntry{}, false
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
	return store.AuditEntry{Client: dec.Client, App: dec.App, Action: string(dec.Action),
		Outcome: string(dec.Outcome), Detail: strings.Join(detail, "; ")}, true
}

// secretReloaded writes an audit entry for a secret_file change (field
// apps[i].secret_file; outcome changed, failed, recovered): never the
// secret.
func (a *auditObserver) secretReloaded(field, outcome string) {
	a.add(store.AuditEntry{Action: "secret_reload", Outcome: outcome, Detail: field})
}
