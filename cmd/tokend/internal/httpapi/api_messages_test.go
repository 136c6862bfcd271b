package httpapi

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPlanRefresh(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	const cooldown, wait = 30 * time.Second, 10 * time.Second
	tests := []struct {
		name      string
		fetchedAt time.Time
		now       time.Time
		want      refreshPlan
	}{
		{"unknown fetched_at", time.Time{}, t0, refreshPlan{wait: true}},
		{"past the cooldown", t0, t0.Add(31 * time.Second), refreshPlan{wait: true}},
		{"cooldown ends now", t0, t0.Add(cooldown), refreshPlan{wait: true}},
		{"cooldown left < wait", t0, t0.Add(21 * time.Second), refreshPlan{cooldownLeft: 9 * time.Second, fetchAt: t0.Add(cooldown), wait: true}},
		{"cooldown left == wait", t0, t0.Add(20 * time.Second), refreshPlan{cooldownLeft: wait, fetchAt: t0.Add(cooldown)}},
		{"just fetched", t0, t0.Add(time.Second), refreshPlan{cooldownLeft: 29 * time.Second, fetchAt: t0.Add(cooldown)}},
		{"clock behind fetched_at", t0, t0.Add(-time.Second), refreshPlan{cooldownLeft: 31 * time.Second, fetchAt: t0.Add(cooldown)}},
	}
	for _, tt := range tests {
		if got := planRefresh(tt.fetchedAt, tt.now, cooldown, wait); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1", 1001 * time.Millisecond: "2", 29 * time.Second: "29"} {
		if got := retryAfter(d); got != want {
			t.Errorf("retryAfter(%s) = %s, want %s", d, got, want)
		}
	}
}

// TestAPI_refresh_inCooldown: a report of a token fetched inside the
// cooldown answers at once, says it is the cooldown and when, with
// Retry-After, and the report is recorded for the leader.
func TestAPI_refresh_inCooldown(t *testing.T) {
	e := newAPIEnv(t, nil, true)
	e.api.cooldown, e.api.refreshWait = time.Minute, 10*time.Second
	e.writeToken(t, "mp-main", "tok-A")
	start := time.Now()
	r := e.do(t, "POST", "/v1/apps/mp-main/refresh", "", `{"invalid_token":"tok-A"}`)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("answer took %s: it waited although the cooldown outlasts the wait", took)
	}
	msg, _ := r.body["error"].(string)
	secs, err := strconv.Atoi(r.hdr.Get("Retry-After"))
	if r.code != 503 || !strings.Contains(msg, "refresh.cooldown (1m0s)") || !strings.Contains(msg, "fetches a new one at") || err != nil || secs < 1 || secs > 60 {
		t.Fatalf("in cooldown: %d Retry-After %q %s", r.code, r.hdr.Get("Retry-After"), r.raw)
	}
	if tok, _ := e.store.PendingReport(context.Background(), "mp-main"); tok != "tok-A" {
		t.Fatalf("report not recorded: pending %q", tok)
	}
}

func TestAPI_methodNotAllowed_allow(t *testing.T) {
	e := newAPIEnv(t, nil, true)
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "/v1/apps/mp-main/refresh", "POST"},
		{"POST", "/v1/status", "GET, HEAD"},
		{"DELETE", "/v1/apps/mp-main/token", "GET, HEAD"},
		{"POST", "/healthz", "GET, HEAD"},
		{"PUT", "/metrics", "GET, HEAD"},
	} {
		r := e.do(t, tc.method, tc.path, "", "")
		if r.code != 405 || r.hdr.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", tc.method, tc.path, r.code, r.hdr.Get("Allow"), tc.allow)
		}
	}
}

func TestAPI_status_lastErrorCodeZero(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	e.writeToken(t, "mp-main", "tok-A")
	if r := e.do(t, "GET", "/v1/status", "", ""); r.code != 200 || !strings.Contains(r.raw, `"last_error_code":0`) {
		t.Fatalf("status: %d %s", r.code, r.raw)
	}
}
