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

// compareAndRefresh answers a report of c's value: a value that is no
// longer current answers the current one at once; a report of the current
// value is handed to the leader through Redis and the answer waits,
// bounded by refreshWait, for the new one (reporting again if a late
// report of an older value replaced it; see reader.Reader.ReportAndWait).
// Inside the cooldown the answer says so and when the fetch will happen;
// when the cooldown outlasts the wait, it answers at once.
func (a *Server) compareAndRefresh(w http.ResponseWriter, r *http.Request, c credential) {
	reported, ok := readReport(w, r, c.field)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.refreshWait)
	defer cancel()
	go func() { // shutdown ends the wait: 503 now rather than a cut connection
		select {
		case <-a.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	if cur, err := a.tokensR.Token(ctx, c.id); err == nil && cur.Value != reported {
		writeJSON(w, http.StatusOK, c.answer(cur, new(false)))
		return
	}
	a.log.Info("api: "+c.noun+" reported invalid", "app", c.id, "fingerprint", store.Fingerprint(reported))
	plan := refreshPlan{wait: true}
	if rec, err := a.store.Record(ctx, c.id); err == nil && rec.Token == reported {
		plan = planRefresh(rec.FetchedAt, rec.Now, a.cooldown, a.refreshWait)
	}
	if !plan.wait {
		if err := a.tokensR.ReportInvalid(ctx, c.id, reported); err != nil {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "redis unavailable; the report was not recorded")
			return
		}
		a.writeCooldown(w, c, plan)
		return
	}
	tok, err := a.tokensR.ReportAndWait(ctx, c.id, reported)
	if err != nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "no new "+c.noun+" yet; the report stays pending")
		return
	}
	writeJSON(w, http.StatusOK, c.answer(tok, new(true)))
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
