package wechat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	testclock "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testAppID = "wx0000000000000001"

// start is 20:00 in UTC+8.
var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newUpstream(t *testing.T, cfg wechattest.Config) (*wechattest.Server, *testclock.FakeClock) {
	t.Helper()
	clk := testclock.NewFakeClock(start)
	cfg.Clock = clk
	s := wechattest.NewServer(cfg)
	t.Cleanup(s.Close)
	s.AddApp(testAppID, testSecret)
	return s, clk
}

// testClient returns a client whose idle connections are closed at the end
// of the test, for goleak.
func testClient(t *testing.T, timeout time.Duration) *http.Client {
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func testConfig(t *testing.T, base string, clk *testclock.FakeClock) Config {
	cfg := Config{AppID: testAppID, Secret: testSecret, BaseURL: base, HTTPClient: testClient(t, 5*time.Second)}
	if clk != nil {
		cfg.Clock = clk
	}
	return cfg
}

func wantUpstream(t *testing.T, err error, code, status int, class upstream.Class) *upstream.Error {
	t.Helper()
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *upstream.Error", err)
	}
	if ue.Code != code || ue.HTTPStatus != status || ue.Class != class {
		t.Fatalf("err = %v (code %d status %d class %s), want code %d status %d class %s",
			err, ue.Code, ue.HTTPStatus, ue.Class, code, status, class)
	}
	noSecret(t, err)
	return ue
}

func noSecret(t *testing.T, err error) {
	t.Helper()
	if s := err.Error(); strings.Contains(s, testSecret) || strings.Contains(s, "secret=") {
		t.Fatalf("error leaks the secret: %q", s)
	}
}

func TestConfig_validation(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		cfg         Config
	}{
		{"empty appid", "AppID", Config{Secret: "s"}},
		{"blank appid", "AppID", Config{AppID: " ", Secret: "s"}},
		{"empty secret", "Secret", Config{AppID: "a"}},
		{"ftp url", "BaseURL", Config{AppID: "a", Secret: "s", BaseURL: "ftp://example.com"}},
		{"relative url", "BaseURL", Config{AppID: "a", Secret: "s", BaseURL: "api.weixin.qq.com"}},
		{"no host", "BaseURL", Config{AppID: "a", Secret: "s", BaseURL: "http://"}},
		{"unparsable", "BaseURL", Config{AppID: "a", Secret: "s", BaseURL: "http://[::1"}},
		{"query", "BaseURL", Config{AppID: "a", Secret: "s", BaseURL: "https://example.com/?x=1"}},
		{"user info", "BaseURL", Config{AppID: "a", Secret: "s", BaseURL: "https://u:p@example.com"}},
		{"negative min", "MinExpiresIn", Config{AppID: "a", Secret: "s", MinExpiresIn: -time.Second}},
		{"min above a day", "MinExpiresIn", Config{AppID: "a", Secret: "s", MinExpiresIn: MaxExpiresIn + 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClassic(tc.cfg)
			var fe *FieldError
			if c != nil || !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(err.Error(), "wechat: config: "+tc.field+": ") {
				t.Fatalf("NewClassic = %v, %v; want a wechat: config: error for %s", c, err, tc.field)
			}
			if _, err := NewStable(tc.cfg); !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("NewStable: err = %v, want a FieldError for %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "u:p") {
				t.Fatalf("error quotes the url's password: %v", err)
			}
		})
	}
}

func TestConfig_defaults(t *testing.T) {
	c, err := NewClassic(Config{AppID: "a", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	got := c.c.cfg
	if got.BaseURL != DefaultBaseURL || got.MinExpiresIn != time.Minute || got.Clock == nil ||
		got.HTTPClient == nil || got.HTTPClient.Timeout != 10*time.Second || got.HTTPClient.CheckRedirect == nil {
		t.Fatalf("defaults: %+v", got)
	}
	c, err = NewClassic(Config{AppID: "a", Secret: "s", BaseURL: "http://127.0.0.1:1/prefix/"})
	if err != nil || c.c.cfg.BaseURL != "http://127.0.0.1:1/prefix" {
		t.Fatalf("trailing slash: %v %v", c, err)
	}
}

// The config is copied: changing the caller's struct later has no effect.
func TestConfig_copied(t *testing.T) {
	up, _ := newUpstream(t, wechattest.Config{})
	cfg := testConfig(t, up.URL, nil)
	p, err := NewClassic(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Secret = "changed"
	if _, err := p.Fetch(context.Background(), upstream.FetchRequest{}); err != nil {
		t.Fatal(err)
	}
}

func TestClassic_Fetch(t *testing.T) {
	up, _ := newUpstream(t, wechattest.Config{})
	p, err := NewClassic(testConfig(t, up.URL, nil))
	if err != nil {
		t.Fatal(err)
	}
	t1, err := p.Fetch(context.Background(), upstream.FetchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	t2, err := p.Fetch(context.Background(), upstream.FetchRequest{Invalid: t1.Value})
	if err != nil {
		t.Fatal(err)
	}
	if t1.ExpiresIn != 7200*time.Second || t1.Value == t2.Value || up.Check(t2.Value) != 0 {
		t.Fatalf("tokens %v %v", t1, t2)
	}
	if got := up.Audit().Fetches[testAppID+"/token"]; got != 2 {
		t.Fatalf("fetches = %d, want 2", got)
	}
}

func TestClassic_upstreamErrors(t *testing.T) {
	big := `{"access_token":"a","expires_in":7200,"pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	justFits := `{"access_token":"a","expires_in":7200}` + strings.Repeat(" ", MaxBodyBytes-38)
	for _, tc := range []struct {
		name   string
		fault  wechattest.Fault
		code   int
		status int
		class  upstream.Class
	}{
		{"busy", wechattest.Fault{Errcode: -1}, -1, 0, upstream.ClassRetry},
		{"minute quota", wechattest.Fault{Errcode: 45011}, 45011, 0, upstream.ClassRetry},
		{"daily quota", wechattest.Fault{Errcode: 45009}, 45009, 0, upstream.ClassQuota},
		{"ip whitelist", wechattest.Fault{Errcode: 40164}, 40164, 0, upstream.ClassConfig},
		{"risky ip", wechattest.Fault{Errcode: 89503}, 89503, 0, upstream.ClassConfig},
		{"echoes secret", wechattest.Fault{Errcode: 40125, Errmsg: "bad secret " + testSecret}, 40125, 0, upstream.ClassConfig},
		{"5xx", wechattest.Fault{HTTPStatus: 502}, 0, 502, upstream.ClassRetry},
		{"5xx with errcode", wechattest.Fault{HTTPStatus: 503, Errcode: -1}, 0, 503, upstream.ClassRetry},
		{"html", wechattest.Fault{Body: "<html>maintenance</html>"}, 0, 0, upstream.ClassRetry},
		{"malformed", wechattest.Fault{Body: `{"access_token":"a","expires_in":`}, 0, 0, upstream.ClassRetry},
		{"oversized", wechattest.Fault{Body: big}, 0, 200, upstream.ClassRetry},
		{"short lifetime", wechattest.Fault{Body: `{"access_token":"a","expires_in":30}`}, 0, 0, upstream.ClassRetry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up, _ := newUpstream(t, wechattest.Config{})
			up.SetFault(tc.fault)
			p, _ := NewClassic(testConfig(t, up.URL, nil))
			tok, err := p.Fetch(context.Background(), upstream.FetchRequest{})
			wantUpstream(t, err, tc.code, tc.status, tc.class)
			if tok != (upstream.Token{}) {
				t.Fatalf("token %v returned with an error", tok)
			}
		})
	}
	t.Run("64 KiB exactly", func(t *testing.T) {
		up, _ := newUpstream(t, wechattest.Config{})
		up.SetFault(wechattest.Fault{Body: justFits})
		p, _ := NewClassic(testConfig(t, up.URL, nil))
		if _, err := p.Fetch(context.Background(), upstream.FetchRequest{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestClassic_credentialErrors(t *testing.T) {
	up, _ := newUpstream(t, wechattest.Config{})
	cfg := testConfig(t, up.URL, nil)
	cfg.Secret = "wrong-" + testSecret
	p, _ := NewClassic(cfg)
	_, err := p.Fetch(context.Background(), upstream.FetchRequest{})
	wantUpstream(t, err, 40001, 0, upstream.ClassConfig)
	cfg = testConfig(t, up.URL, nil)
	cfg.AppID = "wxunknown"
	p, _ = NewClassic(cfg)
	_, err = p.Fetch(context.Background(), upstream.FetchRequest{})
	wantUpstream(t, err, 40013, 0, upstream.ClassConfig)
}

func TestClassic_connectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, secret := range []string{testSecret, "a+b/c=&d"} {
		cfg := testConfig(t, "http://"+addr, nil)
		cfg.Secret = secret
		p, _ := NewClassic(cfg)
		_, err = p.Fetch(context.Background(), upstream.FetchRequest{})
		var te *TransportError
		if !errors.As(err, &te) || te.Op != "token" || te.Timeout() {
			t.Fatalf("err = %#v, want a *TransportError", err)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "wechat: token: Get: ") || strings.Contains(msg, "secret") ||
			strings.Contains(msg, secret) || strings.Contains(msg, "a%2Bb") || strings.Contains(msg, "?") {
			t.Fatalf("error %q: want no url and no secret", msg)
		}
		if upstream.ClassOf(err) != upstream.ClassRetry {
			t.Fatal("transport errors are transient")
		}
	}
}

func TestFetch_timeout(t *testing.T) {
	up, _ := newUpstream(t, wechattest.Config{})
	up.SetFault(wechattest.Fault{Delay: time.Hour})
	cfg := testConfig(t, up.URL, nil)
	cfg.HTTPClient = testClient(t, 50*time.Millisecond)
	for _, fetch := range []func() error{
		func() error {
			p, _ := NewClassic(cfg)
			_, err := p.Fetch(context.Background(), upstream.FetchRequest{})
			return err
		},
		func() error {
			p, _ := NewStable(cfg)
			_, err := p.Fetch(context.Background(), upstream.FetchRequest{})
			return err
		},
	} {
		err := fetch()
		var te *TransportError
		if !errors.As(err, &te) || !te.Timeout() {
			t.Fatalf("err = %v, want a timeout", err)
		}
		noSecret(t, err)
	}
}

func TestFetch_contextCancelled(t *testing.T) {
	up, _ := newUpstream(t, wechattest.Config{})
	p, _ := NewStable(testConfig(t, up.URL, nil))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Fetch(ctx, upstream.FetchRequest{})
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "wechat: stable_token: Post: ") {
		t.Fatalf("err = %v", err)
	}
	_, err = p.Fetch(nil, upstream.FetchRequest{}) //nolint:staticcheck // a nil context is a caller bug; it must not panic
	if err == nil || !strings.HasPrefix(err.Error(), "wechat: stable_token: ") {
		t.Fatalf("nil context: %v", err)
	}
}

// The default client does not follow redirects: the secret in the query
// must not travel to another URL.
func TestClassic_redirectNotFollowed(t *testing.T) {
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Store(true) }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	defer redirect.Close()
	p, err := NewClassic(Config{AppID: testAppID, Secret: testSecret, BaseURL: redirect.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Fetch(context.Background(), upstream.FetchRequest{})
	wantUpstream(t, err, 0, http.StatusFound, upstream.ClassRetry)
	if followed.Load() {
		t.Fatal("redirect followed")
	}
	p.c.cfg.HTTPClient.CloseIdleConnections()
}

func TestNoSecretWhenPrinted(t *testing.T) {
	cfg := Config{AppID: testAppID, Secret: testSecret}
	c, _ := NewClassic(cfg)
	s, _ := NewStable(cfg)
	var logged bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	logger.Info("x", "cfg", cfg, "classic", c, "stable", s)
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg),
		fmt.Sprintf("%v %+v %s", c, c, c),
		fmt.Sprintf("%v %+v %s", s, s, s),
		logged.String(),
	} {
		if strings.Contains(out, testSecret) {
			t.Fatalf("secret printed: %s", out)
		}
		if !strings.Contains(out, testAppID) {
			t.Fatalf("appid missing: %s", out)
		}
	}
}
