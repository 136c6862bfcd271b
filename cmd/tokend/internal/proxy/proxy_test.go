package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeUpstream accepts only the token in live; it records what it got.
type fakeUpstream struct {
	srv   *httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	live  string
	last  *http.Request
	body  []byte
	// hold, when set, blocks each call until it is closed.
	hold chan struct{}
}

func newFakeUpstream(t *testing.T, live string) *fakeUpstream {
	f := &fakeUpstream{live: live}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeUpstream) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.last, f.body = r, body
	live, hold := f.live, f.hold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	w.Header().Set("Proxy-Authenticate", "Basic")
	w.Header().Set("X-Kept", "kept")
	if r.URL.Query().Get("access_token") != live {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential"}`)
		return
	}
	if r.URL.Path == "/cgi-bin/media/get" {
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = io.Copy(w, bytes.NewReader(bytes.Repeat([]byte("m"), 5<<20)))
		return
	}
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	_, _ = io.WriteString(w, `{"errcode":0,"errmsg":"ok","len":`+itoa(len(body))+`}`)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func (f *fakeUpstream) setLive(tok string) { f.mu.Lock(); f.live = tok; f.mu.Unlock() }

// env is a Proxy in front of a fake upstream for app "mp", whose tokens
// are "cur" (and "old", an overlapping previous one).
type env struct {
	up        *fakeUpstream
	p         *Proxy
	current   atomic.Value // string
	refreshes atomic.Int64
	observed  chan string
	logs      *bytes.Buffer
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	e := &env{up: newFakeUpstream(t, "cur"), observed: make(chan string, 100), logs: &bytes.Buffer{}}
	e.current.Store("cur")
	cfg := Config{
		Lookup: func(_ context.Context, tok string) (string, bool) {
			return "mp", tok == "cur" || tok == "old" || tok == "new"
		},
		Upstreams: map[string]string{"mp": e.up.srv.URL},
		Hosts:     []string{"example.com"}, // httptest.NewRequest's Host
		Token:     func(context.Context, string) (string, error) { return e.current.Load().(string), nil },
		Refresh: func(_ context.Context, app, reported string) (string, bool) {
			e.refreshes.Add(1)
			e.current.Store("new")
			return "new", true
		},
		Observe: func(app, prefix, outcome string, _ time.Duration) { e.observed <- app + " " + prefix + " " + outcome },
		Logger:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	return e
}

func (e *env) do(t *testing.T, method, target string, body io.Reader) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, target, body)
	w := httptest.NewRecorder()
	e.p.ServeHTTP(w, r)
	var ans map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &ans)
	return w, ans
}

func (e *env) outcome(t *testing.T) string {
	t.Helper()
	select {
	case o := <-e.observed:
		return o
	case <-time.After(5 * time.Second):
		t.Fatal("nothing observed")
		return ""
	}
}

func TestProxy_forwards(t *testing.T) {
	e := newEnv(t, nil)
	r := httptest.NewRequest("POST", "/cgi-bin/message/custom/send?b=%20x&access_token=old&z=", strings.NewReader(`{"touser":"o"}`))
	r.Header.Set("Authorization", "Bearer tokend-key")
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.p.ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"len":14`) {
		t.Fatalf("HTTP %d %s", w.Code, w.Body)
	}
	last := e.up.last
	if last.URL.RawQuery != "b=%20x&access_token=cur&z=" || last.URL.Path != "/cgi-bin/message/custom/send" {
		t.Fatalf("upstream got %s?%s", last.URL.Path, last.URL.RawQuery)
	}
	if last.Header.Get("Authorization") != "" || last.Header.Get("X-Forwarded-For") != "" || last.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("upstream headers %v", last.Header)
	}
	if w.Header().Get("Proxy-Authenticate") != "" || w.Header().Get("X-Kept") != "kept" || w.Header().Get("Content-Type") != "application/json; encoding=utf-8" {
		t.Fatalf("answer headers %v", w.Header())
	}
	if o := e.outcome(t); o != "mp cgi-bin/message forwarded" {
		t.Fatalf("observed %q", o)
	}
	if e.refreshes.Load() != 0 {
		t.Fatal("refreshed without a rejection")
	}
}

func TestProxy_retry(t *testing.T) {
	e := newEnv(t, nil)
	e.up.setLive("new") // rotated out of band: "cur" is dead upstream
	w, ans := e.do(t, "POST", "/cgi-bin/message/custom/send?access_token=cur", strings.NewReader(`{"a":1}`))
	if ans["errcode"] != 0.0 || !strings.Contains(w.Body.String(), `"len":7`) {
		t.Fatalf("HTTP %d %s", w.Code, w.Body)
	}
	if e.refreshes.Load() != 1 || e.up.calls.Load() != 2 {
		t.Fatalf("refreshes %d upstream calls %d, want 1 and 2", e.refreshes.Load(), e.up.calls.Load())
	}
	if o := e.outcome(t); o != "mp cgi-bin/message retried" {
		t.Fatalf("observed %q", o)
	}
}

func TestProxy_noRetryLargeBody(t *testing.T) {
	e := newEnv(t, nil)
	e.up.setLive("new")
	body := bytes.Repeat([]byte("x"), RetryBodyLimit+1)
	_, ans := e.do(t, "POST", "/cgi-bin/media/upload?access_token=cur&type=image", bytes.NewReader(body))
	if ans["errcode"] != 40001.0 {
		t.Fatalf("answer %v, want the upstream's 40001 passed through", ans)
	}
	if e.refreshes.Load() != 1 || e.up.calls.Load() != 1 || len(e.up.body) != len(body) {
		t.Fatalf("refreshes %d calls %d body %d", e.refreshes.Load(), e.up.calls.Load(), len(e.up.body))
	}
	if o := e.outcome(t); o != "mp cgi-bin/media forwarded" {
		t.Fatalf("observed %q", o)
	}
}

func TestProxy_rejectsLocally(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxBody = 100
		c.Authorize = func(r *http.Request, app string) (string, bool) { return "", r.Header.Get("X-Deny") == "" }
	})
	for _, tc := range []struct {
		name, target string
		body         string
		header       string
		code         float64
	}{
		{"unknown token", "/cgi-bin/user/info?access_token=nope", "", "", 40001},
		{"too big", "/cgi-bin/user/info?access_token=cur", strings.Repeat("x", 101), "", 40097},
		{"denied", "/cgi-bin/user/info?access_token=cur", "", "1", 40164},
		{"path", "/audit?access_token=cur", "", "", 40066},
	} {
		r := httptest.NewRequest("POST", tc.target, strings.NewReader(tc.body))
		if tc.header != "" {
			r.Header.Set("X-Deny", "1")
		}
		w := httptest.NewRecorder()
		e.p.ServeHTTP(w, r)
		var ans map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &ans)
		if ans["errcode"] != tc.code {
			t.Errorf("%s: HTTP %d %s, want errcode %v", tc.name, w.Code, w.Body, tc.code)
		}
		if o := e.outcome(t); !strings.HasSuffix(o, " rejected_local") {
			t.Errorf("%s: observed %q", tc.name, o)
		}
	}
	if n := e.up.calls.Load(); n != 0 {
		t.Fatalf("%d calls forwarded", n)
	}
}

func TestProxy_busy(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConcurrent = 1 })
	hold := make(chan struct{})
	e.up.mu.Lock()
	e.up.hold = hold
	e.up.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.do(t, "GET", "/cgi-bin/user/info?access_token=cur", nil)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for e.up.calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_, ans := e.do(t, "GET", "/cgi-bin/user/info?access_token=cur", nil)
	close(hold)
	<-done
	if ans["errcode"] != -1.0 {
		t.Fatalf("second call answered %v, want -1", ans)
	}
	if o := e.outcome(t); o != "mp cgi-bin/user busy" {
		t.Fatalf("observed %q", o)
	}
}

func TestProxy_upstreamDown(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return nil, errors.New("dial " + r.URL.String() + ": refused")
		})
	})
	w, ans := e.do(t, "GET", "/cgi-bin/user/info?access_token=old", nil)
	if w.Code != http.StatusBadGateway || ans["errcode"] != -1.0 {
		t.Fatalf("HTTP %d %v", w.Code, ans)
	}
	if o := e.outcome(t); o != "mp cgi-bin/user upstream_error" {
		t.Fatalf("observed %q", o)
	}
	if logs := e.logs.String(); strings.Contains(logs, "cur") || strings.Contains(logs, "old") || !strings.Contains(logs, "<token>") {
		t.Fatalf("log leaks a token or lost the error:\n%s", logs)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestProxy_streams(t *testing.T) {
	e := newEnv(t, nil)
	w, _ := e.do(t, "GET", "/cgi-bin/media/get?access_token=cur&media_id=m", nil)
	if w.Code != 200 || w.Body.Len() != 5<<20 || w.Header().Get("Content-Type") != "image/jpeg" {
		t.Fatalf("HTTP %d, %d bytes, %q", w.Code, w.Body.Len(), w.Header().Get("Content-Type"))
	}
	up := make([]byte, 3<<20)
	_, _ = rand.Read(up)
	r := httptest.NewRequest("POST", "/cgi-bin/media/upload?access_token=cur&type=image", io.MultiReader(bytes.NewReader(up))) // no length: chunked
	r.ContentLength = -1
	w = httptest.NewRecorder()
	e.p.ServeHTTP(w, r)
	if w.Code != 200 || !bytes.Equal(e.up.body, up) {
		t.Fatalf("HTTP %d %s; upstream got %d bytes", w.Code, w.Body, len(e.up.body))
	}
}

func TestNew_invalid(t *testing.T) {
	ok := Config{
		Lookup:  func(context.Context, string) (string, bool) { return "", false },
		Token:   func(context.Context, string) (string, error) { return "", nil },
		Refresh: func(context.Context, string, string) (string, bool) { return "", false },
	}
	for name, mod := range map[string]func(*Config){
		"no lookup": func(c *Config) { c.Lookup = nil },
		"negative":  func(c *Config) { c.Timeout = -1 },
		"query":     func(c *Config) { c.Upstreams = map[string]string{"a": "https://h/?x=1"} },
		"scheme":    func(c *Config) { c.Upstreams = map[string]string{"a": "ftp://h"} },
	} {
		cfg := ok
		mod(&cfg)
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// TestProxy_upstreamTimeout: an upstream that never answers is cut at
// Timeout: 502 -1, upstream_error.
func TestProxy_upstreamTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Timeout = 200 * time.Millisecond })
	hold := make(chan struct{})
	defer close(hold)
	e.up.mu.Lock()
	e.up.hold = hold
	e.up.mu.Unlock()
	w, ans := e.do(t, "GET", "/cgi-bin/user/info?access_token=cur", nil)
	if w.Code != http.StatusBadGateway || ans["errcode"] != -1.0 {
		t.Fatalf("HTTP %d %v", w.Code, ans)
	}
	if o := e.outcome(t); o != "mp cgi-bin/user upstream_error" {
		t.Fatalf("observed %q", o)
	}
}

// TestProxy_refreshFails: no new token within the wait: the upstream's
// 40001 passes through, nothing is sent again.
func TestProxy_refreshFails(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Refresh = func(context.Context, string, string) (string, bool) { return "", false }
	})
	e.up.setLive("other")
	_, ans := e.do(t, "GET", "/cgi-bin/user/info?access_token=cur", nil)
	if ans["errcode"] != 40001.0 || e.up.calls.Load() != 1 {
		t.Fatalf("answer %v after %d upstream calls, want 40001 after 1", ans, e.up.calls.Load())
	}
	if o := e.outcome(t); o != "mp cgi-bin/user forwarded" {
		t.Fatalf("observed %q", o)
	}
}
