package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
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
	leader := make(chan struct{})
	go func() { // the leader: answers the report of tok-A with tok-B
		defer close(leader)
		if _, ok := wait.Poll(5*time.Second, func() bool { return e.pendingOf("mp") == "tok-A" }); ok {
			e.writeToken(t, "mp", "tok-B")
		}
	}()
	// The write may still be finishing when the proxied call has its answer:
	// the store must outlive it.
	defer func() { <-leader }()
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
	c := Config{Store: e.api.store, Fleet: e.api.fleet, Tokens: e.api.tokensR, Leader: fakeLeader{}, Metrics: e.api.metrics, Apps: compatApps(),
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

// TestProxy_serverTimeoutsLifted: a proxied upload slower than the HTTP
// server's ReadTimeout passes, because the proxy lifts the server's
// deadlines for its own calls through httpapi's request-metrics wrapper
// (statusRecorder must expose the connection: Unwrap).
func TestProxy_serverTimeoutsLifted(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok","size":`+strconv.FormatInt(n, 10)+`}`)
	}))
	t.Cleanup(up.Close)
	e := newAPIEnvWith(t, func(c *Config) {
		c.Apps, c.Compat = compatApps(), true
		c.Proxy = ProxyConfig{Enabled: true, Upstreams: map[string]string{"mp": up.URL}}
	})
	e.writeToken(t, "mp", "tok-A")
	srv := httptest.NewUnstartedServer(e.api.Handler())
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	pr, pw := io.Pipe()
	go func() { // 8 chunks, 100ms apart: the body outlasts ReadTimeout
		defer pw.Close()
		for range 8 {
			time.Sleep(100 * time.Millisecond)
			if _, err := pw.Write([]byte(strings.Repeat("x", 1000))); err != nil {
				return
			}
		}
	}()
	resp, err := http.Post(srv.URL+"/cgi-bin/media/upload?type=image&access_token=tok-A", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"size":8000`) {
		t.Fatalf("slow upload through the proxy: %d %s", resp.StatusCode, b)
	}
}
