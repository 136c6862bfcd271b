package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"
)

// Proxy mode is package proxy's (tested there); these tests cover how
// httpapi mounts it: only with Config.Proxy (and Compat), as the fallback
// of unmatched paths that name access_token, and the retry through the
// refresh route's compare-and-refresh.

func TestProxy_mounted(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("access_token") != "tok-B" {
			_, _ = io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential"}`)
			return
		}
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok","path":"`+r.URL.Path+`"}`)
	}))
	t.Cleanup(up.Close)
	e := newAPIEnvWith(t, func(c *Config) {
		c.Apps, c.Compat = compatApps(), true
		c.Proxy = ProxyConfig{Enabled: true, Upstreams: map[string]string{"mp": up.URL}}
	})
	e.writeToken(t, "mp", "tok-A")
	go func() { // the leader: answers the report of tok-A with tok-B
		if _, ok := wait.Poll(5*time.Second, func() bool { return e.pendingOf("mp") == "tok-A" }); ok {
			e.writeToken(t, "mp", "tok-B")
		}
	}()
	r := e.do(t, "GET", "/cgi-bin/user/info?access_token=tok-A&openid=o", "", "")
	if r.body["errcode"] != 0.0 || r.body["path"] != "/cgi-bin/user/info" {
		t.Fatalf("proxied call: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "GET", "/nope", "", ""); r.code != 404 || r.body["error"] != "no such route" {
		t.Fatalf("unmatched path without access_token: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "GET", "/nope?access_token=tok-B", "", ""); r.body["errcode"] != 40066.0 {
		t.Fatalf("unmatched path with access_token: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "GET", "/cgi-bin/user/info?access_token=unknown", "", ""); r.body["errcode"] != 40001.0 || !strings.Contains(r.raw, "tokend") {
		t.Fatalf("unknown token: %d %s", r.code, r.raw)
	}
}

func TestProxy_needsCompat(t *testing.T) {
	e := newAPIEnvWith(t, func(c *Config) { c.Apps = compatApps() })
	c := Config{Store: e.api.store, Tokens: e.api.tokensR, Leader: fakeLeader{}, Metrics: e.api.metrics, Apps: compatApps(),
		Proxy: ProxyConfig{Enabled: true}}
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "Compat") {
		t.Fatalf("Proxy without Compat: err %v", err)
	}
}

// pendingOf is the report pending for app ("" when none).
func (e *apiEnv) pendingOf(app string) string {
	tok, _ := e.store.PendingReport(context.Background(), app)
	return tok
}
