package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// clientsDaemon is a replica run in-process on miniredis and the fake
// upstream, with clients configured, logging JSON at debug level.
type clientsDaemon struct {
	base string
	logs *syncBuffer
	rdb  *redis.Client
	up   *wechattest.Server
	// bodies are every answer the test read, scanned for keys at the end.
	bodies strings.Builder
}

const (
	runawayKey = "runaway-key-0123456789"
	calmKey    = "calm-client-key-98765"
	sharedKey  = "shared-api-token-0001"
	strayKey   = "stray-key-not-anyones-1"
	edgeKey    = "edge-proxy-key-0123456"
)

func startClientsDaemon(t *testing.T) *clientsDaemon {
	t.Helper()
	mr := miniredis.RunT(t)
	up := wechattest.NewServer(wechattest.Config{Lifetime: 2 * time.Hour})
	t.Cleanup(up.Close)
	up.AddApp("wxrun", "run-app-secret-0123")
	up.AddApp("wxcalm", "calm-app-secret-0123")
	env := map[string]string{"RUN_SECRET": "run-app-secret-0123", "CALM_SECRET": "calm-app-secret-0123",
		"RUNAWAY_KEY": runawayKey, "CALM_KEY": calmKey, "EDGE_KEY": edgeKey, "API_TOKENS": sharedKey}
	y := `
replica_id: clients
redis: {url: "redis://` + mr.Addr() + `/0", timeout: 500ms}
http: {listen: "127.0.0.1:0", auth_tokens_env: API_TOKENS, proxy: true}
election: {lease_ttl: 3s, renew_interval: 500ms, renew_deadline: 2s, retry_interval: 100ms}
refresh: {cooldown: 100ms}
log: {level: debug, format: json}
apps:
  - {id: run, provider: wechat, appid: wxrun, secret_env: RUN_SECRET, base_url: "` + up.URL + `"}
  - {id: calm, provider: wechat, appid: wxcalm, secret_env: CALM_SECRET, base_url: "` + up.URL + `"}
clients:
  - {name: runaway, key_env: RUNAWAY_KEY, apps: [run], allow: [token, refresh, status], refresh_burst: 1, refresh_per_minute: 1}
  - {name: calm, key_env: CALM_KEY, apps: ["*"], allow: [token, refresh, status], cidrs: ["127.0.0.0/8", "::1/128"]}
  - {name: edge, key_env: EDGE_KEY, apps: [calm], allow: [proxy], cidrs: ["127.0.0.0/8", "::1/128"]}
`
	getenv := func(k string) string { return env[k] }
	cfg, _, err := parseConfig([]byte(y), getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &clientsDaemon{logs: &syncBuffer{}, up: up}
	addr := make(chan string, 1)
	dm, err := newDaemon(cfg, newLogger(d.logs, "json", slog.LevelDebug), daemonOptions{getenv: getenv, onListen: func(a string) { addr <- a }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dm.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	d.base = "http://" + <-addr
	d.rdb = redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { d.rdb.Close() })
	for _, app := range []string{"run", "calm"} {
		if _, ok := wait.Poll(10*time.Second, func() bool { return d.rdb.Get(ctx, "{tokend}:token:"+app).Val() != "" }); !ok {
			t.Fatalf("no token for %s; logs:\n%s", app, d.logs.String())
		}
	}
	return d
}

// call does one request with key as bearer ("" none) and returns the
// status, the Retry-After header and the body.
func (d *clientsDaemon) call(t *testing.T, method, path, key, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, d.base+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	d.bodies.Write(b)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

// TestDaemon_clientsRateLimit: a client hammering refresh of the current
// token (bounded loop) gets 429 with Retry-After and causes at most one
// upstream fetch; another client's refresh and reads are unaffected; the
// audit stream and metrics name the clients; no key appears in the JSON
// debug logs, the metrics, the audit stream or any answer.
func TestDaemon_clientsRateLimit(t *testing.T) {
	d := startClientsDaemon(t)
	ctx := context.Background()
	before := d.up.Audit().Fetches["wxrun/token"]
	var n, ok, limited, other int
	deadline := time.Now().Add(10 * time.Second)
	for ; n < 40 && time.Now().Before(deadline); n++ {
		cur := d.rdb.Get(ctx, "{tokend}:token:run").Val() // a smart runaway: always the current token
		code, retry, body := d.call(t, "POST", "/v1/apps/run/refresh", runawayKey, `{"invalid_token":"`+cur+`"}`)
		switch {
		case code == 200:
			ok++
		case code == 429 && retry != "" && strings.Contains(body, "rate limit"):
			limited++
		default:
			other++
			t.Logf("refresh %d: %d %s", n, code, body)
		}
	}
	fetches := d.up.Audit().Fetches["wxrun/token"] - before
	if n < 10 || ok != 1 || limited != n-1 || fetches > 1 {
		t.Fatalf("runaway: %d requests: %d ok, %d limited, %d other; %d upstream fetches", n, ok, limited, other, fetches)
	}
	// The other client is unaffected: it reads, and its refresh fetches.
	cur := d.rdb.Get(ctx, "{tokend}:token:calm").Val()
	if code, _, body := d.call(t, "POST", "/v1/apps/calm/refresh", calmKey, `{"invalid_token":"`+cur+`"}`); code != 200 || !strings.Contains(body, `"refreshed":true`) {
		t.Fatalf("calm's refresh: %d %s", code, body)
	}
	if code, _, _ := d.call(t, "GET", "/v1/apps/run/token", calmKey, ""); code != 200 {
		t.Fatalf("calm's read: %d", code)
	}
	// Denied: out of scope, and a key nobody holds (fingerprint only).
	if code, _, _ := d.call(t, "GET", "/v1/apps/calm/token", runawayKey, ""); code != 403 {
		t.Fatalf("runaway reading calm: %d", code)
	}
	if code, _, _ := d.call(t, "GET", "/v1/apps/run/token", strayKey, ""); code != 403 {
		t.Fatalf("stray key: %d", code)
	}
	if code, _, body := d.call(t, "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxcalm&secret="+runawayKey, "", ""); code != 200 || !strings.Contains(body, "40125") {
		t.Fatalf("compat, runaway's key for calm: %s", body)
	}
	if code, _, body := d.call(t, "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxrun&secret="+runawayKey, "", ""); code != 200 || !strings.Contains(body, "access_token") {
		t.Fatalf("compat, runaway's key for run: %s", body)
	}
	_, _, metrics := d.call(t, "GET", "/metrics", "", "")
	for _, want := range []string{
		`tokend_client_requests_total{action="refresh",client="runaway",outcome="limited"}`,
		`tokend_client_requests_total{action="refresh",client="calm",outcome="allowed"} 1`,
		`tokend_client_requests_total{action="token",client="unknown",outcome="denied"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	wants := []string{"client=runaway app=run action=refresh outcome=limited", "client=calm app=calm action=refresh outcome=allowed",
		"client=runaway app=calm action=token outcome=denied", "client= app=run action=token outcome=denied"}
	var audit string
	wait.Poll(5*time.Second, func() bool { // the stream is written asynchronously
		audit = d.auditText(t, ctx)
		for _, want := range wants {
			if !strings.Contains(audit, want) {
				return false
			}
		}
		return true
	})
	for _, want := range wants {
		if !strings.Contains(audit, want) {
			t.Errorf("audit stream lacks %q:\n%s", want, audit)
		}
	}
	for name, text := range map[string]string{"logs": d.logs.String(), "metrics": metrics, "audit stream": audit, "answers": d.bodies.String()} {
		for _, key := range []string{runawayKey, calmKey, sharedKey, strayKey} {
			if strings.Contains(text, key) {
				t.Errorf("a key (%.8s...) appears in the %s", key, name)
			}
		}
	}
	if !strings.Contains(d.logs.String(), `"client":"runaway"`) {
		t.Error("no audit log line names the client")
	}
}

// auditText is every entry of the audit stream, one line each, as
// "client=.. app=.. action=.. outcome=.." followed by every field.
func (d *clientsDaemon) auditText(t *testing.T, ctx context.Context) string {
	t.Helper()
	var b strings.Builder
	msgs, err := d.rdb.XRange(ctx, "{tokend}:audit", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		v := func(k string) string { s, _ := m.Values[k].(string); return s }
		b.WriteString("client=" + v("client") + " app=" + v("app") + " action=" + v("action") + " outcome=" + v("outcome"))
		for k, x := range m.Values {
			b.WriteString(" " + k + ":" + x.(string))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestDaemon_clientsProxy: with clients configured, proxy mode forwards a
// keyless call only for an app some client allows proxy for from the
// caller's address (edge: app calm, loopback), and a keyed call only
// within the key's scope; a denied call is answered 40164 locally and
// never reaches the upstream.
func TestDaemon_clientsProxy(t *testing.T) {
	d := startClientsDaemon(t)
	ctx := context.Background()
	tok := func(app string) string { return d.rdb.Get(ctx, "{tokend}:token:"+app).Val() }
	for _, tc := range []struct {
		name, app, key string
		forwarded      bool
	}{
		{"keyless, app allowed from loopback", "calm", "", true},
		{"keyless, no client proxies the app", "run", "", false},
		{"key without proxy scope", "run", runawayKey, false},
		{"key with proxy scope", "calm", edgeKey, true},
		{"key with proxy scope, other app", "run", edgeKey, false},
	} {
		before := d.up.Audit().Requests
		code, _, body := d.call(t, "GET", "/cgi-bin/user/info?openid=o1&access_token="+tok(tc.app), tc.key, "")
		after := d.up.Audit().Requests
		if code != 200 {
			t.Errorf("%s: HTTP %d %s", tc.name, code, body)
			continue
		}
		if tc.forwarded {
			if !strings.Contains(body, `"openid":"o1"`) || after != before+1 {
				t.Errorf("%s: not forwarded: %s (upstream requests %d -> %d)", tc.name, body, before, after)
			}
		} else if !strings.Contains(body, `"errcode":40164`) || after != before {
			t.Errorf("%s: not refused locally: %s (upstream requests %d -> %d)", tc.name, body, before, after)
		}
	}
	if strings.Contains(d.logs.String(), edgeKey) || strings.Contains(d.bodies.String(), edgeKey) {
		t.Error("a client key leaked into the logs or an answer")
	}
}

// TestRefusalGate: one audit entry per refusal key per minute, at most
// refusalBurst at once and refusalRate per second after; the next entry
// says how many were skipped.
func TestRefusalGate(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1_700_000_000, 0))
	g := newRefusalGate(clk)
	if ok, _ := g.allow("a"); !ok {
		t.Fatal("first refusal not audited")
	}
	if ok, _ := g.allow("a"); ok {
		t.Fatal("the same refusal again within a minute audited")
	}
	clk.SetTime(clk.Now().Add(refusalEvery))
	if ok, n := g.allow("a"); !ok || n != 1 {
		t.Fatalf("after a minute: %v, skipped %d, want true, 1", ok, n)
	}
	passed := 0
	for i := range 3 * refusalBurst {
		if ok, _ := g.allow(fmt.Sprintf("flood-%d", i)); ok {
			passed++
		}
	}
	// The bucket refilled to the burst during the minute; one went to "a".
	if passed != refusalBurst-1 {
		t.Fatalf("%d of %d distinct refusals audited at once, want %d", passed, 3*refusalBurst, refusalBurst-1)
	}
	clk.SetTime(clk.Now().Add(time.Second))
	if ok, n := g.allow("flood-new"); !ok || n != 2*refusalBurst+1 {
		t.Fatalf("a second later: %v, skipped %d, want true, %d", ok, n, 2*refusalBurst+1)
	}
}

// TestDecisionEntry_appBounded: a refusal's app comes from the request
// path; one that is no valid credential id is not kept.
func TestDecisionEntry_appBounded(t *testing.T) {
	e, ok := decisionEntry(clients.Decision{App: strings.Repeat("A", 15000), Action: clients.Token, Outcome: clients.Denied, Reason: clients.ReasonUnknownKey})
	if !ok || e.App != "" {
		t.Fatalf("entry %v (app %d bytes), want one with no app", ok, len(e.App))
	}
	if e, _ := decisionEntry(clients.Decision{App: "mp:jsapi", Action: clients.Ticket, Outcome: clients.Denied, Reason: clients.ReasonUnknownKey}); e.App != "mp:jsapi" {
		t.Fatalf("a valid credential id was dropped: %q", e.App)
	}
}
