package httpapi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"
)

// The WeChat-shaped routes are package compat's (tested there); these
// tests cover how httpapi mounts them: only with Config.Compat, and
// stable_token's force_refresh through the refresh route's
// compare-and-refresh (casRefresh, RefreshWait, Cooldown).

func secretOf(s string) func() string { return func() string { return s } }

// compatApps: a classic and a stable WeChat app.
func compatApps() []App {
	return []App{
		{ID: "mp", Provider: "wechat", AppID: "wxmp", Secret: secretOf("mp-secret"), Tickets: []string{"jsapi", "wx_card"}},
		{ID: "st", Provider: "wechat_stable", AppID: "wxst", Secret: secretOf("st-secret"), Tickets: []string{"jsapi"}},
	}
}

func newCompatEnv(t *testing.T) *apiEnv {
	t.Helper()
	return newAPIEnvWith(t, func(c *Config) { c.Apps, c.Compat = compatApps(), true })
}

// TestCompat_disabled: without Compat the routes are not served.
func TestCompat_disabled(t *testing.T) {
	e := newAPIEnvWith(t, func(c *Config) { c.Apps = compatApps() })
	e.writeToken(t, "mp", "tok-mp")
	if r := e.do(t, "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxmp&secret=mp-secret", "", ""); r.code != 404 || strings.Contains(r.raw, "tok-mp") {
		t.Fatalf("compat off: %d %s", r.code, r.raw)
	}
}

// TestCompat_forceRefresh: stable_token force_refresh is a report of the
// current token, answered with the new one when the leader writes it in
// time; inside a long cooldown, with the current one at once, the report
// recorded.
func TestCompat_forceRefresh(t *testing.T) {
	e := newCompatEnv(t)
	e.writeToken(t, "st", "tok-A")
	body := `{"grant_type":"client_credential","appid":"wxst","secret":"st-secret","force_refresh":true}`
	pending := func() string { tok, _ := e.store.PendingReport(context.Background(), "st"); return tok }
	go func() {
		if _, ok := wait.Poll(2*time.Second, func() bool { return pending() == "tok-A" }); ok {
			e.writeToken(t, "st", "tok-B")
		}
	}()
	if r := e.do(t, "POST", "/cgi-bin/stable_token", "", body); r.body["access_token"] != "tok-B" {
		t.Fatalf("force_refresh: %s, want the new token", r.raw)
	}
	// Nobody answers the report: the current token after the bounded wait.
	e.api.refreshWait = 200 * time.Millisecond
	if r := e.do(t, "POST", "/cgi-bin/stable_token", "", body); r.body["access_token"] != "tok-B" || pending() != "tok-B" {
		t.Fatalf("force_refresh, no leader: %s (pending %q)", r.raw, pending())
	}
	// Inside the cooldown: the current token at once, the report recorded.
	e.api.cooldown, e.api.refreshWait = time.Hour, 10*time.Second
	e.writeToken(t, "st", "tok-C")
	if _, ok := wait.Poll(2*time.Second, func() bool {
		return e.do(t, "POST", "/cgi-bin/stable_token", "", strings.Replace(body, "true", "false", 1)).body["access_token"] == "tok-C"
	}); !ok {
		t.Fatal("the reader never served tok-C")
	}
	start := time.Now()
	r := e.do(t, "POST", "/cgi-bin/stable_token", "", body)
	if r.body["access_token"] != "tok-C" || pending() != "tok-C" || time.Since(start) > 5*time.Second {
		t.Fatalf("force_refresh in cooldown: %s after %s (pending %q)", r.raw, time.Since(start), pending())
	}
}
