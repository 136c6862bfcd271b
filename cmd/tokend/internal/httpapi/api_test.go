package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/cmd/tokend/internal/metrics"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/reader"
)

type fakeLeader struct{ epoch int64 }

func (f fakeLeader) Leading() (int64, bool) { return f.epoch, f.epoch != 0 }

type apiEnv struct {
	api   *Server
	srv   *httptest.Server
	store *store.Store
	fleet *fleet.Store
	rdb   *redis.Client
	mr    *miniredis.Miniredis
}

func newAPIEnv(t *testing.T, tokens []string, open bool) *apiEnv {
	t.Helper()
	return newAPIEnvApps(t, tokens, open, []App{{ID: "mp-main", Provider: "wechat"}})
}

func newAPIEnvApps(t *testing.T, tokens []string, open bool, apps []App) *apiEnv {
	t.Helper()
	return newAPIEnvWith(t, func(c *Config) { c.Apps, c.AuthTokens, c.Open = apps, tokens, open })
}

// newAPIEnvWith is an API on miniredis whose Config set adjusts; no app,
// no bearer token, not open unless set says.
func newAPIEnvWith(t *testing.T, set func(*Config)) *apiEnv {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	st, err := store.New(store.Config{Client: rdb})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := reader.New(rdb, reader.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	cfg := Config{
		Store: st, Fleet: fleet.New(st), Tokens: rd, Leader: fakeLeader{}, ReplicaID: "r1",
		RefreshWait: 2 * time.Second, Metrics: metrics.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	set(&cfg)
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return &apiEnv{api: a, srv: srv, store: st, fleet: fleet.New(st), rdb: rdb, mr: mr}
}

// writeToken stores a token for app as a leader would.
func (e *apiEnv) writeToken(t *testing.T, app, token string) {
	t.Helper()
	ctx := context.Background()
	e.rdb.Set(ctx, e.store.Keys().Lease(), "L", time.Minute)
	tk, err := e.store.TakeTicket(ctx, app, "L", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.WriteToken(ctx, store.Write{App: app, Ticket: tk, Token: token, ExpiresIn: 2 * time.Hour, SafetyMargin: time.Minute}); err != nil {
		t.Fatal(err)
	}
}

type reply struct {
	code int
	body map[string]any
	raw  string
	hdr  http.Header
}

// pending is the report pending for mp-main ("" when none).
func (e *apiEnv) pending() string {
	tok, _ := e.store.PendingReport(context.Background(), "mp-main")
	return tok
}

func (e *apiEnv) do(t *testing.T, method, path, bearer, body string) reply {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, raw: string(raw), hdr: resp.Header}
	if ct := resp.Header.Get("Content-Type"); path != "/metrics" && !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: content type %q, body %q", method, path, ct, raw)
	}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func TestAPI_authWithTokens(t *testing.T) {
	e := newAPIEnv(t, []string{"good-1", "good-2"}, false)
	e.writeToken(t, "mp-main", "tok-A")
	for _, path := range []string{"/v1/status", "/v1/apps/mp-main/token"} {
		if r := e.do(t, "GET", path, "", ""); r.code != 401 || r.body["error"] == nil || r.hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s without bearer: %d %s", path, r.code, r.raw)
		}
		if r := e.do(t, "GET", path, "wrong", ""); r.code != 403 {
			t.Errorf("%s wrong bearer: %d", path, r.code)
		}
		if r := e.do(t, "GET", path, "good-2", ""); r.code != 200 {
			t.Errorf("%s good bearer: %d %s", path, r.code, r.raw)
		}
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		req.Header.Set("Authorization", "bearer good-1") // the scheme is case-insensitive
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
			t.Errorf("%s lower-case scheme: %v %v", path, resp.StatusCode, err)
		} else {
			resp.Body.Close()
		}
	}
	if r := e.do(t, "POST", "/v1/apps/mp-main/refresh", "", `{"invalid_token":"x"}`); r.code != 401 {
		t.Errorf("refresh without bearer: %d", r.code)
	}
	// Health and metrics stay open.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := e.do(t, "GET", path, "", ""); r.code != 200 {
			t.Errorf("%s: %d", path, r.code)
		}
	}
}

func TestAPI_noTokensConfigured(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	e.writeToken(t, "mp-main", "tok-A")
	if r := e.do(t, "GET", "/v1/status", "", ""); r.code != 200 {
		t.Errorf("status: %d", r.code)
	}
	if r := e.do(t, "GET", "/v1/apps/mp-main/token", "", ""); r.code != 403 {
		t.Errorf("token without configured auth: %d, want 403", r.code)
	}
	if r := e.do(t, "POST", "/v1/apps/mp-main/refresh", "", `{"invalid_token":"x"}`); r.code != 403 {
		t.Errorf("refresh without configured auth: %d, want 403", r.code)
	}
	dev := newAPIEnv(t, nil, true)
	dev.writeToken(t, "mp-main", "tok-A")
	if r := dev.do(t, "GET", "/v1/apps/mp-main/token", "", ""); r.code != 200 {
		t.Errorf("dev mode token: %d", r.code)
	}
}

func TestAPI_token(t *testing.T) {
	e := newAPIEnv(t, nil, true)
	if r := e.do(t, "GET", "/v1/apps/mp-main/token", "", ""); r.code != 503 || r.body["error"] != "no valid token" {
		t.Fatalf("before any token: %d %s", r.code, r.raw)
	}
	e.writeToken(t, "mp-main", "tok-A")
	r := e.do(t, "GET", "/v1/apps/mp-main/token", "", "")
	if r.code != 200 || r.body["access_token"] != "tok-A" || len(r.body) != 2 {
		t.Fatalf("token: %d %s", r.code, r.raw)
	}
	if exp, _ := r.body["expires_in"].(float64); exp < 7100 || exp > 7140 {
		t.Fatalf("expires_in = %v, want about 7140 (2h minus the margin)", r.body["expires_in"])
	}
	if r.hdr.Get("Cache-Control") != "no-store" {
		t.Fatal("token answer may be cached")
	}
	for path, code := range map[string]int{
		"/v1/apps/unknown/token": 404, "/v1/apps/a%20b/token": 404, "/nope": 404, "/v1/apps/mp-main": 404,
	} {
		if r := e.do(t, "GET", path, "", ""); r.code != code || r.body["error"] == nil {
			t.Errorf("GET %s: %d %s, want %d JSON", path, r.code, r.raw, code)
		}
	}
	if r := e.do(t, "DELETE", "/v1/apps/mp-main/token", "", ""); r.code != 405 || r.body["error"] == nil {
		t.Errorf("DELETE token: %d %s", r.code, r.raw)
	}
	e.mr.SetError("LOADING")
	if r := e.do(t, "GET", "/v1/apps/mp-main/token", "", ""); r.code != 200 || r.body["access_token"] != "tok-A" {
		t.Errorf("redis down: %d %s, want the cached token (stale-if-error)", r.code, r.raw)
	}
	if r := e.do(t, "GET", "/readyz", "", ""); r.code != 503 {
		t.Errorf("readyz with redis down: %d", r.code)
	}
}

func TestAPI_refreshBadInput(t *testing.T) {
	e := newAPIEnv(t, nil, true)
	e.writeToken(t, "mp-main", "tok-A")
	for name, tc := range map[string]struct {
		body string
		code int
	}{
		"not json":      {"invalid_token=x", 400},
		"empty":         {"", 400},
		"missing field": {`{}`, 400},
		"empty token":   {`{"invalid_token":""}`, 400},
		"unknown field": {`{"invalid_token":"x","extra":1}`, 400},
		"wrong type":    {`{"invalid_token":5}`, 400},
		"oversized":     {`{"invalid_token":"` + strings.Repeat("x", 10000) + `"}`, 413},
	} {
		if r := e.do(t, "POST", "/v1/apps/mp-main/refresh", "", tc.body); r.code != tc.code || r.body["error"] == nil {
			t.Errorf("%s: %d %s, want %d", name, r.code, r.raw, tc.code)
		}
	}
	if r := e.do(t, "POST", "/v1/apps/nope/refresh", "", `{"invalid_token":"x"}`); r.code != 404 {
		t.Errorf("unknown app: %d", r.code)
	}
	if pending, _ := e.store.PendingReports(context.Background()); len(pending) != 0 {
		t.Fatalf("bad requests left reports: %v", pending)
	}
}

func TestAPI_refreshCompareAndRefresh(t *testing.T) {
	e := newAPIEnv(t, nil, true)
	e.writeToken(t, "mp-main", "tok-A")
	// A report of a token that is not current: the current one, nothing reported.
	r := e.do(t, "POST", "/v1/apps/mp-main/refresh", "", `{"invalid_token":"old"}`)
	if r.code != 200 || r.body["access_token"] != "tok-A" || r.body["refreshed"] != false {
		t.Fatalf("stale report: %d %s", r.code, r.raw)
	}
	if pending, _ := e.store.PendingReports(context.Background()); len(pending) != 0 {
		t.Fatalf("stale report was recorded: %v", pending)
	}
	// A report of the current token waits for the leader's new token.
	go func() {
		if _, ok := wait.Poll(2*time.Second, func() bool { return e.pending() == "tok-A" }); ok {
			e.writeToken(t, "mp-main", "tok-B")
		}
	}()
	start := time.Now()
	r = e.do(t, "POST", "/v1/apps/mp-main/refresh", "", `{"invalid_token":"tok-A"}`)
	if r.code != 200 || r.body["access_token"] != "tok-B" || r.body["refreshed"] != true {
		t.Fatalf("current report: %d %s", r.code, r.raw)
	}
	if took := time.Since(start); took > 400*time.Millisecond {
		t.Fatalf("answer took %s: the change event did not wake the waiter", took)
	}
	// A late report of an older token replaces ours and the leader drops
	// it as stale: the waiting request reports again.
	go func() {
		if _, ok := wait.Poll(2*time.Second, func() bool { return e.pending() == "tok-B" }); ok {
			e.store.Report(context.Background(), "mp-main", "tok-A")      // the late, older report
			e.store.ClearReport(context.Background(), "mp-main", "tok-A") // the leader: stale
		}
		if _, ok := wait.Poll(3*time.Second, func() bool { return e.pending() == "tok-B" }); ok {
			e.writeToken(t, "mp-main", "tok-C")
		}
	}()
	e.api.refreshWait = 5 * time.Second
	r = e.do(t, "POST", "/v1/apps/mp-main/refresh", "", `{"invalid_token":"tok-B"}`)
	if r.code != 200 || r.body["access_token"] != "tok-C" {
		t.Fatalf("report lost to an older one: %d %s", r.code, r.raw)
	}
	// Nobody refreshes: bounded wait, then 503.
	e.api.refreshWait = 200 * time.Millisecond
	if r := e.do(t, "POST", "/v1/apps/mp-main/refresh", "", `{"invalid_token":"tok-C"}`); r.code != 503 {
		t.Fatalf("no leader: %d %s", r.code, r.raw)
	}
	// Shutdown ends a wait at once with 503.
	e.api.refreshWait = time.Minute
	time.AfterFunc(100*time.Millisecond, e.api.Shutdown)
	start = time.Now()
	if r := e.do(t, "POST", "/v1/apps/mp-main/refresh", "", `{"invalid_token":"tok-C"}`); r.code != 503 || time.Since(start) > 2*time.Second {
		t.Fatalf("refresh during shutdown: %d after %s", r.code, time.Since(start))
	}
}

func TestAPI_status(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	e.writeToken(t, "mp-main", "tok-SECRETVALUE")
	e.store.SetStatus(context.Background(), "mp-main", store.Status{LastError: "upstream: errcode 40164: invalid ip", LastErrorCode: 40164, NextRefresh: time.Now()})
	e.rdb.HSet(context.Background(), e.store.Keys().Epoch(), "epoch", 77, "leader", "r2")
	r := e.do(t, "GET", "/v1/status", "", "")
	if r.code != 200 || strings.Contains(r.raw, "tok-SECRETVALUE") {
		t.Fatalf("status: %d %s", r.code, r.raw)
	}
	var st statusAnswer
	if err := json.Unmarshal([]byte(r.raw), &st); err != nil {
		t.Fatal(err)
	}
	if st.Replica != "r1" || st.Leader || st.LeaderID != "r2" || st.Epoch != 77 || len(st.Apps) != 1 {
		t.Fatalf("status %+v", st)
	}
	a := st.Apps[0]
	if a.ID != "mp-main" || !a.Valid || a.Version != 1 || a.ExpiresAt == nil || a.LastErrorCode != 40164 || a.NextRefresh == nil {
		t.Fatalf("app status %+v", a)
	}
	e.api.leader = fakeLeader{epoch: 99}
	if err := json.Unmarshal([]byte(e.do(t, "GET", "/v1/status", "", "").raw), &st); err != nil || !st.Leader || st.LeaderID != "r1" || st.Epoch != 99 {
		t.Fatalf("leading status %+v %v", st, err)
	}
	if m := e.do(t, "GET", "/metrics", "", ""); !strings.Contains(m.raw, `tokend_http_requests_total{code="200",route="GET /v1/status"}`) {
		t.Fatalf("metrics do not count requests:\n%s", m.raw)
	}
}

// TestAPI_status_corruptKey: garbage in one app's meta hash shows in that
// app's entry (naming the key, never a value) and the others still answer.
func TestAPI_status_corruptKey(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	e.api.apps = []App{{ID: "mp-main", Provider: "wechat"}, {ID: "mp-other", Provider: "wechat"}}
	e.writeToken(t, "mp-main", "tok-SECRETVALUE")
	e.writeToken(t, "mp-other", "tok-OTHERVALUE")
	e.rdb.HSet(context.Background(), e.store.Keys().Meta("mp-main"), "version", "abc")
	r := e.do(t, "GET", "/v1/status", "", "")
	if r.code != 200 || strings.Contains(r.raw, "SECRETVALUE") || strings.Contains(r.raw, "OTHERVALUE") {
		t.Fatalf("status: %d %s", r.code, r.raw)
	}
	var st statusAnswer
	if err := json.Unmarshal([]byte(r.raw), &st); err != nil || len(st.Apps) != 2 {
		t.Fatalf("status %s: %v", r.raw, err)
	}
	if a := st.Apps[0]; !strings.Contains(a.LastError, "corrupt") || !strings.Contains(a.LastError, "version") {
		t.Fatalf("corrupt app's entry does not say so: %+v", a)
	}
	if a := st.Apps[1]; !a.Valid || a.LastError != "" {
		t.Fatalf("the other app is affected: %+v", a)
	}
}
