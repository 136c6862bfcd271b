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

// refresh is compare-and-refresh: a report of a token that is no longer
// current answers the current one at once; a report of the current token
// is handed to the leader through Redis and the answer waits, bounded by
// refreshWait, for the new token (reporting again if a late report of an
// older token replaced it; see reader.Reader.ReportAndWait). Inside the
// cooldown the answer says so and when the fetch will happen; when the
// cooldown outlasts the wait, it answers at once.
func (a *Server) refresh(w http.ResponseWriter, r *http.Request) {
	app, ok := a.knownApp(w, r)
	if !ok {
		return
	}
	reported, ok := readReport(w, r)
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
	if cur, err := a.tokensR.Token(ctx, app); err == nil && cur.Value != reported {
		writeJSON(w, http.StatusOK, withRefreshed(answerOf(cur), false))
		return
	}
	a.log.Info("api: token reported invalid", "app", app, "fingerprint", store.Fingerprint(reported))
	plan := refreshPlan{wait: true}
	if rec, err := a.store.Record(ctx, app); err == nil && rec.Token == reported {
		plan = planRefresh(rec.FetchedAt, rec.Now, a.cooldown, a.refreshWait)
	}
	if !plan.wait {
		if err := a.tokensR.ReportInvalid(ctx, app, reported); err != nil {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "redis unavailable; the report was not recorded")
			return
		}
		a.writeCooldown(w, plan)
		return
	}
	tok, err := a.tokensR.ReportAndWait(ctx, app, reported)
	if err != nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "no new token yet; the report stays pending")
		return
	}
	writeJSON(w, http.StatusOK, withRefreshed(answerOf(tok), true))
}

// writeCooldown answers 503 for a report held by the cooldown, with
// Retry-After (seconds, rounded up) and the time of the fetch.
func (a *Server) writeCooldown(w http.ResponseWriter, p refreshPlan) {
	w.Header().Set("Retry-After", retryAfter(p.cooldownLeft))
	writeError(w, http.StatusServiceUnavailable, fmt.Sprintf(
		"no new token yet: the current token was fetched less than refresh.cooldown (%s) ago; the report is recorded and the leader fetches a new one at %s (in %ss)",
		a.cooldown, p.fetchAt.UTC().Format(time.RFC3339), retryAfter(p.cooldownLeft)))
}

// readReport decodes {"invalid_token":"..."}, answering 400 or 413 and
// returning false when the body is not that.
func readReport(w http.ResponseWriter, r *http.Request) (string, bool) {
	var body struct {
		InvalidToken string `json:"invalid_token"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "body too large")
			return "", false
		}
		writeError(w, http.StatusBadRequest, `body must be JSON {"invalid_token":"..."}`)
		return "", false
	}
	if body.InvalidToken == "" {
		writeError(w, http.StatusBadRequest, "invalid_token is required")
		return "", false
	}
	return body.InvalidToken, true
}
