package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/reader"
)

// refreshPlan is how the refresh route answers a report of the current
// token: decided from plain values by planRefresh, acted on by refresh.
type refreshPlan struct {
	// cooldownLeft > 0: the token was fetched less than refresh.cooldown
	// ago, so the leader fetches only when this much time has passed, at
	// fetchAt (Redis's clock).
	cooldownLeft time.Duration
	fetchAt      time.Time
	// wait for the new token; false: the cooldown outlasts the wait bound,
	// so record the report and answer 503 with Retry-After at once.
	wait bool
}

// planRefresh decides from the record's fetched_at and Redis's now (zero
// fetchedAt: unknown, no cooldown assumed), the configured cooldown and the
// wait bound.
func planRefresh(fetchedAt, now time.Time, cooldown, maxWait time.Duration) refreshPlan {
	if fetchedAt.IsZero() || now.IsZero() {
		return refreshPlan{wait: true}
	}
	left := fetchedAt.Add(cooldown).Sub(now)
	if left <= 0 {
		return refreshPlan{wait: true}
	}
	return refreshPlan{cooldownLeft: left, fetchAt: fetchedAt.Add(cooldown), wait: left < maxWait}
}

// retryAfter is the Retry-After value for d: whole seconds, rounded up, at
// least 1.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(int64((d+time.Second-1)/time.Second), 1), 10)
}

// refresh is compare-and-refresh of an app's token (compareAndRefresh).
func (a *Server) refresh(w http.ResponseWriter, r *http.Request) {
	if app, ok := a.knownApp(w, r); ok {
		a.compareAndRefresh(w, r, tokenCredential(app.ID))
	}
}

// compareAndRefresh answers a report of c's value (casRefresh, waiting
// at most refreshWait): a value that is no longer current answers the
// current one at once; a report of the current value answers the new one.
// Inside the cooldown the answer says so and when the fetch will happen;
// when the cooldown outlasts the wait, it answers at once.
func (a *Server) compareAndRefresh(w http.ResponseWriter, r *http.Request, c credential) {
	reported, ok := readReport(w, r, c.field)
	if !ok {
		return
	}
	res := a.casRefresh(r.Context(), c, reported, a.refreshWait)
	switch res.outcome {
	case casStale:
		writeJSON(w, http.StatusOK, c.answer(res.tok, new(false)))
	case casRefreshed:
		writeJSON(w, http.StatusOK, c.answer(res.tok, new(true)))
	case casCooldown:
		a.writeCooldown(w, c, res.plan)
	case casUnrecorded:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "redis unavailable; the report was not recorded")
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "no new "+c.noun+" yet; the report stays pending")
	}
}

// casOutcome is what a compare-and-refresh came to.
type casOutcome int

const (
	casTimeout    casOutcome = iota // recorded; no new value within the wait
	casStale                        // the reported value is not the current one: tok is
	casRefreshed                    // tok is the new value
	casCooldown                     // recorded; the cooldown outlasts the wait (plan says when)
	casUnrecorded                   // the report could not be recorded (Redis)
)

// casResult is casRefresh's answer: the outcome, the value to answer
// (casStale, casRefreshed) and the cooldown plan (casCooldown).
type casResult struct {
	outcome casOutcome
	tok     reader.Token
	plan    refreshPlan
}

// casRefresh is compare-and-refresh of c's value reported: a value that is
// no longer current returns the current one; a report of the current
// value is handed to the leader through Redis and waits, at most maxWait
// and not past shutdown, for the new one (reporting again if a late report
// of an older value replaced it; see reader.Reader.ReportAndWait). Inside
// the cooldown it waits only if the fetch falls within maxWait.
func (a *Server) casRefresh(ctx context.Context, c credential, reported string, maxWait time.Duration) casResult {
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	go func() { // shutdown ends the wait: an answer now rather than a cut connection
		select {
		case <-a.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	if cur, err := a.tokensR.Token(ctx, c.id); err == nil && cur.Value != reported {
		return casResult{outcome: casStale, tok: cur}
	}
	a.log.Info("api: "+c.noun+" reported invalid", "app", c.id, "fingerprint", store.Fingerprint(reported))
	plan := refreshPlan{wait: true}
	if rec, err := a.store.Record(ctx, c.id); err == nil && rec.Token == reported {
		plan = planRefresh(rec.FetchedAt, rec.Now, a.cooldown, maxWait)
	}
	if !plan.wait {
		if err := a.tokensR.ReportInvalid(ctx, c.id, reported); err != nil {
			return casResult{outcome: casUnrecorded}
		}
		return casResult{outcome: casCooldown, plan: plan}
	}
	tok, err := a.tokensR.ReportAndWait(ctx, c.id, reported)
	if err != nil {
		return casResult{outcome: casTimeout}
	}
	return casResult{outcome: casRefreshed, tok: tok}
}

// writeCooldown answers 503 for a report held by the cooldown, with
// Retry-After (seconds, rounded up) and the time of the fetch.
func (a *Server) writeCooldown(w http.ResponseWriter, c credential, p refreshPlan) {
	w.Header().Set("Retry-After", retryAfter(p.cooldownLeft))
	writeError(w, http.StatusServiceUnavailable, fmt.Sprintf(
		"no new %[1]s yet: the current %[1]s was fetched less than refresh.cooldown (%[2]s) ago; the report is recorded and the leader fetches a new one at %[3]s (in %[4]ss)",
		c.noun, a.cooldown, p.fetchAt.UTC().Format(time.RFC3339), retryAfter(p.cooldownLeft)))
}

// readReport decodes {"<field>":"..."}, answering 400 or 413 and returning
// false when the body is not that.
func readReport(w http.ResponseWriter, r *http.Request, field string) (string, bool) {
	usage := fmt.Sprintf(`body must be JSON {"%s":"..."}`, field)
	var body map[string]json.RawMessage
	if !decodeBody(w, r, &body, usage) {
		return "", false
	}
	var reported string
	for k, raw := range body {
		if k != field || json.Unmarshal(raw, &reported) != nil {
			writeError(w, http.StatusBadRequest, usage)
			return "", false
		}
	}
	if reported == "" {
		writeError(w, http.StatusBadRequest, field+" is required")
		return "", false
	}
	return reported, true
}

// decodeBody decodes a JSON body of at most maxBody bytes into v (unknown
// fields refused), answering 413 or 400 with usage and returning false
// when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, usage string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body too large")
			return false
		}
		writeError(w, http.StatusBadRequest, usage)
		return false
	}
	return true
}
