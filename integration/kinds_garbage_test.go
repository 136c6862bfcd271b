package integration

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store/fleet"
)

// htmlPage is a proxy's error page answered with HTTP 200.
const htmlPage = "<html><body><h1>502 Bad Gateway</h1></body></html>"

// namedFault is one garbage answer.
type namedFault struct {
	name  string
	fault wechattest.Fault
}

// garbageFaults are the garbage answers of endpoint ep, whose successful
// answer with an empty value is empty: each is answered once.
func garbageFaults(ep, empty string) []namedFault {
	i := strings.Index(empty, `""`)
	// A value that looks real, cut before its closing quote.
	truncated := empty[:i+1] + "bXJ0cnVuY2F0ZWQtdmFsdWUtdGhhdC1sb29rcy1saWtlLWEtdG9rZW4"
	return []namedFault{
		{"html", wechattest.Fault{Endpoint: ep, Body: htmlPage, Remaining: 1}},
		{"truncated-json", wechattest.Fault{Endpoint: ep, Body: truncated, Remaining: 1}},
		{"errcode-1", wechattest.Fault{Endpoint: ep, Errcode: -1, Remaining: 1}},
		{"empty-value", wechattest.Fault{Endpoint: ep, Body: empty, Remaining: 1}},
	}
}

// kindGarbage: every endpoint of the kind answers each garbage once, on a
// fetch a report of the credential's current value asks for; then
// e.kc.longFault fails for longer than a value's life. Readers are never
// handed a dead or garbage value (the checkers), each garbage answer is an
// error in status and the stored value stays (garbageOnce), and a value
// whose endpoint keeps failing is served until it truly expires
// (kindLongFault).
func kindGarbage(e *kindEnv) {
	t := e.t
	chks := e.checkers(false)
	done := map[string]bool{}
	for _, c := range e.creds {
		if done[c.ep] {
			continue
		}
		done[c.ep] = true
		for _, g := range garbageFaults(c.ep, c.empty) {
			garbageOnce(e, c, g)
		}
	}
	kindLongFault(e)
	for i, st := range stopAll(chks) {
		c := e.creds[i]
		t.Logf("figures: %s: garbage phase: dead=%d; %s", c.id, st.DeadTotal(), st)
		if c.reportRetires {
			// The phase reports live values to make tokend fetch; a
			// report of a stable token is a force_refresh, which kills
			// the reported token at once, and a reader may be handed it
			// until the change reaches it. Only that death is excused.
			st.Get.Dead -= st.Get.DeadByCode[wechattest.CodeNotLatest]
			st.Lib.Dead -= st.Lib.DeadByCode[wechattest.CodeNotLatest]
			delete(st.Get.DeadByCode, wechattest.CodeNotLatest)
			delete(st.Lib.DeadByCode, wechattest.CodeNotLatest)
		}
		assertNoDead(t, st)
	}
}

// garbageWait bounds each wait of garbageOnce: a report's fetch goes out
// within the cooldown and one retry backoff (about a second), but a loaded
// 2-core machine (CI beside a CPU hog, other packages' tests alongside)
// stretched that past 5 s; the bound is not the figure, which is logged.
const garbageWait = 12 * time.Second

// garbageOnce installs g (answered once), reports c's current value so
// that the leader fetches, and waits until the garbage was answered and
// the report handled by the retry. The garbage must show as an error in
// the status of a credential of its endpoint (the endpoint may serve
// another credential's due fetch first), and the stored value afterwards
// must be live at the upstream: for a same-value kind, the one stored
// before unless it rolled over meanwhile (Feishu and the stable token hand
// out a new value near the end of the old one's life).
func garbageOnce(e *kindEnv, c cred, g namedFault) {
	t := e.t
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	before := e.record(c.id)
	if !before.Valid() {
		wait.For(t, 10*time.Second, c.id+" valid before "+g.name, func() bool { before = e.record(c.id); return before.Valid() })
	}
	f0, since := e.srv.Audit().Faults, time.Now()
	e.srv.SetFault(g.fault)
	defer e.srv.ClearFault()
	if err := e.st.Report(ctx, c.id, before.Token); err != nil {
		t.Fatal(err)
	}
	// The error shows in a status until the retry succeeds, which can be
	// over before a stalled test process looks (CI beside other builds):
	// the audit trail's failed refresh entry is looked at too.
	var lastErr string
	answered := wait.For(t, garbageWait, fmt.Sprintf("%s answered %s", c.ep, g.name), func() bool {
		for _, o := range e.creds {
			if s := e.status(o.id); o.ep == c.ep && s.LastError != "" {
				lastErr = s.LastError
			}
		}
		if lastErr == "" {
			lastErr = e.failedRefresh(ctx, c.ep, since)
		}
		return e.srv.Audit().Faults > f0 && lastErr != ""
	})
	healed := wait.For(t, garbageWait, "the report of "+c.id+" handled after "+g.name, func() bool {
		p, err := e.st.PendingReport(ctx, c.id)
		return err == nil && p == "" && e.record(c.id).Valid()
	})
	after := e.record(c.id)
	live := c.live(e.srv, after.Token)
	t.Logf("figures: %s %s: error %q in status after %s; report handled %s later; value kept=%v (live=%v)",
		c.ep, g.name, lastErr, ms(answered), ms(healed), after.Token == before.Token, live)
	if !live {
		t.Errorf("%s after %s on %s: the stored value is not a live value of the upstream", c.id, g.name, c.ep)
	}
	if c.lifeLo == c.lifeHi && after.Token != before.Token && c.live(e.srv, before.Token) {
		t.Errorf("%s after %s on %s: the stored value changed while the old one still lives", c.id, g.name, c.ep)
	}
}

// failedRefresh is the first failed refresh in the audit trail since
// since (less a second of clock slack) of a credential of endpoint ep,
// as "audit: <outcome> <errcode>", or "".
func (e *kindEnv) failedRefresh(ctx context.Context, ep string, since time.Time) string {
	entries, err := fleet.New(e.st).RecentAudit(ctx, 200)
	if err != nil {
		return ""
	}
	for _, a := range entries {
		if a.Action != "refresh" || a.Outcome == "ok" || a.Outcome == "rejected_write" || a.Time.Before(since.Add(-time.Second)) {
			continue
		}
		for _, o := range e.creds {
			if o.ep == ep && o.id == a.App {
				return fmt.Sprintf("audit: %s %d", a.Outcome, a.Errcode)
			}
		}
	}
	return ""
}

// status is the fake's verdict on v as c's kind of value.
func (c cred) status(srv *wechattest.Server, v string) wechattest.Status {
	if c.ticket {
		return srv.CheckTicket(v)
	}
	return srv.CheckToken(v)
}

// live says whether v is live at the upstream and c's.
func (c cred) live(srv *wechattest.Server, v string) bool {
	st := c.status(srv, v)
	return st.Live() && st.App == c.owner && st.Kind == c.kind
}

// longFaultEarly is how much earlier than the upstream's expiry the key
// of a same-value value may expire: tokend counts its life from when it
// sent the fetch, before the upstream issued the value: a few ms on an
// idle machine, 380-530 ms seen beside a CPU hog on 2 cores (the request
// waits for the fake's goroutine). Dropping the value at the first failed
// refresh instead would end it about half a lifetime (2.5 s) early.
const longFaultEarly = time.Second

// kindLongFault fails e.kc.longFault (HTML pages) until every credential
// it serves lost its value. Each keeps its stored value until it truly
// expires: the key (its expiry on Redis's clock: TIME + PTTL at the last
// read) goes no later than the upstream's expiry (readers are never
// handed a dead value) and at most longFaultEarly before it; the stored
// value never changes. After the fault clears, every credential gets a
// value again.
func kindLongFault(e *kindEnv) {
	t := e.t
	var hit []cred
	for _, c := range e.creds {
		if c.ep == e.kc.longFault {
			hit = append(hit, c)
		}
	}
	v0 := make([]string, len(hit))
	expiry := make([]time.Time, len(hit)) // the upstream's
	keyEnd := make([]time.Time, len(hit)) // the key's, at the last read
	gone := make([]bool, len(hit))
	e.srv.SetFault(wechattest.Fault{Endpoint: e.kc.longFault, Body: htmlPage})
	defer e.srv.ClearFault()
	for i, c := range hit {
		v0[i] = e.record(c.id).Token
		if st := c.status(e.srv, v0[i]); st.Live() {
			expiry[i] = st.ExpiresAt
		}
	}
	wait.For(t, kindLifetime+2*time.Second, "every value of "+e.kc.longFault+" gone while it fails", func() bool {
		left := 0
		for i, c := range hit {
			if gone[i] {
				continue
			}
			switch v := e.record(c.id); {
			case !v.Valid():
				gone[i] = true
			case v.Token != v0[i]:
				t.Errorf("%s: the stored value changed while %s answered HTML", c.id, e.kc.longFault)
				gone[i] = true
			default:
				keyEnd[i] = v.Now.Add(v.TTL)
				left++
			}
		}
		return left == 0
	})
	e.srv.ClearFault()
	healed := wait.For(t, 15*time.Second, "every credential valid after the long fault", func() bool {
		for _, c := range e.creds {
			if !e.record(c.id).Valid() {
				return false
			}
		}
		return true
	})
	for i, c := range hit {
		early := expiry[i].Sub(keyEnd[i])
		t.Logf("figures: %s: %s failing: value served until %s before the upstream's expiry (allowed 0..%s); healed %s after the fault cleared",
			c.id, e.kc.longFault, ms(early), ms(longFaultEarly), ms(healed))
		// PTTL and tokend's expiry are in whole ms: 2 ms of rounding, and
		// 2.6 ms was seen beside a CPU hog: 5 ms.
		if expiry[i].IsZero() || keyEnd[i].IsZero() || early > longFaultEarly || early < -5*time.Millisecond {
			t.Errorf("%s: key expired %s before the value's expiry at the upstream, want 0..%s", c.id, early, ms(longFaultEarly))
		}
	}
}
