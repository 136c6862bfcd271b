package upstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/upstream/upstreamtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const secret = "S3cr3t+/=&value"

func creds() *upstream.Credentials {
	return &upstream.Credentials{IDField: "AppID", ID: "app1", Secret: secret}
}

func newCaller(t *testing.T, base string) *upstream.Caller {
	t.Helper()
	c, err := upstream.NewCaller(upstream.CallerConfig{Provider: "test", BaseURL: base, HTTPClient: upstreamtest.Client(t), Credentials: creds()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var shape = upstream.Shape{
	Code: "errcode", Message: "errmsg", Value: "access_token", ExpiresIn: "expires_in",
	Classify: func(code int) upstream.Class {
		switch code {
		case 40001:
			return upstream.ClassTokenRejected
		case 40013:
			return upstream.ClassConfig
		}
		return upstream.ClassRetry
	},
}

func TestNewCaller_validation(t *testing.T) {
	ok := upstream.CallerConfig{Provider: "test", DefaultBaseURL: "https://example.com", Credentials: creds()}
	for _, tc := range []struct {
		name, field string
		edit        func(*upstream.CallerConfig)
	}{
		{"empty id", "AppID", func(c *upstream.CallerConfig) { c.Credentials.ID = "" }},
		{"blank id", "AppID", func(c *upstream.CallerConfig) { c.Credentials.ID = " \t" }},
		{"no secret", "Secret", func(c *upstream.CallerConfig) { c.Credentials.Secret = "" }},
		{"no default url", "BaseURL", func(c *upstream.CallerConfig) { c.DefaultBaseURL = "" }},
		{"ftp url", "BaseURL", func(c *upstream.CallerConfig) { c.BaseURL = "ftp://example.com" }},
		{"relative url", "BaseURL", func(c *upstream.CallerConfig) { c.BaseURL = "api.example.com" }},
		{"no host", "BaseURL", func(c *upstream.CallerConfig) { c.BaseURL = "http://" }},
		{"unparsable", "BaseURL", func(c *upstream.CallerConfig) { c.BaseURL = "http://[::1" }},
		{"query", "BaseURL", func(c *upstream.CallerConfig) { c.BaseURL = "https://example.com/?x=1" }},
		{"fragment", "BaseURL", func(c *upstream.CallerConfig) { c.BaseURL = "https://example.com/#x" }},
		{"user info", "BaseURL", func(c *upstream.CallerConfig) { c.BaseURL = "https://u:p@example.com" }},
		{"negative min", "MinExpiresIn", func(c *upstream.CallerConfig) { c.MinExpiresIn = -time.Second }},
		{"min above a day", "MinExpiresIn", func(c *upstream.CallerConfig) { c.MinExpiresIn = upstream.MaxExpiresIn + 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			cfg.Credentials = creds()
			tc.edit(&cfg)
			c, err := upstream.NewCaller(cfg)
			var fe *upstream.FieldError
			if c != nil || !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(err.Error(), "test: config: "+tc.field+": ") {
				t.Fatalf("NewCaller = %v, %v; want a FieldError for %s", c, err, tc.field)
			}
			upstreamtest.NoLeak(t, err, secret, "u:p")
		})
	}
	// SecretFunc alone is enough; no credentials at all is allowed too.
	cfg := ok
	cfg.Credentials = &upstream.Credentials{IDField: "AppID", ID: "a", SecretFunc: func() string { return "x" }}
	if _, err := upstream.NewCaller(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Credentials = nil
	if _, err := upstream.NewCaller(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestNewCaller_defaults(t *testing.T) {
	c, err := upstream.NewCaller(upstream.CallerConfig{Provider: "test", DefaultBaseURL: "https://example.com/", Credentials: creds()})
	if err != nil {
		t.Fatal(err)
	}
	hc := c.HTTPClient()
	if c.BaseURL() != "https://example.com" || c.MinExpiresIn() != upstream.DefaultMinExpiresIn ||
		hc == nil || hc.Timeout != upstream.DefaultTimeout || hc.CheckRedirect == nil || c.ID() != "app1" {
		t.Fatalf("defaults: %s %s %+v", c.BaseURL(), c.MinExpiresIn(), hc)
	}
	c, err = upstream.NewCaller(upstream.CallerConfig{Provider: "test", DefaultBaseURL: "https://example.com", BaseURL: "http://127.0.0.1:1/prefix/"})
	if err != nil || c.BaseURL() != "http://127.0.0.1:1/prefix" || c.ID() != "" {
		t.Fatalf("override: %v %v", c, err)
	}
}

// The credentials are copied: changing the caller's struct later has no
// effect.
func TestNewCaller_copiesCredentials(t *testing.T) {
	cr := creds()
	c, err := upstream.NewCaller(upstream.CallerConfig{Provider: "test", DefaultBaseURL: "https://example.com", Credentials: cr})
	if err != nil {
		t.Fatal(err)
	}
	cr.Secret, cr.ID = "changed", "changed"
	if s, err := c.Secret(); s != secret || err != nil || c.ID() != "app1" {
		t.Fatalf("Secret() = %q, %v; ID %q", s, err, c.ID())
	}
}

func TestCaller_Secret(t *testing.T) {
	var answer atomic.Value
	answer.Store("from-func")
	cr := creds()
	cr.SecretFunc = func() string { return answer.Load().(string) }
	c, err := upstream.NewCaller(upstream.CallerConfig{Provider: "test", DefaultBaseURL: "https://example.com", Credentials: cr})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := c.Secret(); s != "from-func" || err != nil {
		t.Fatalf("SecretFunc not preferred: %q %v", s, err)
	}
	answer.Store("")
	if _, err := c.Secret(); upstream.ClassOf(err) != upstream.ClassConfig || err == nil {
		t.Fatalf("empty secret: %v", err)
	}
	noCreds, _ := upstream.NewCaller(upstream.CallerConfig{Provider: "test", DefaultBaseURL: "https://example.com"})
	if _, err := noCreds.Secret(); err == nil {
		t.Fatal("no credentials: want an error")
	}
}

func TestCaller_requests(t *testing.T) {
	s := upstreamtest.NewServer(t)
	c := newCaller(t, s.URL+"/base/")
	s.Answer(http.StatusOK, `{"access_token":"tok","expires_in":7200}`)
	q := url.Values{"secret": {secret}}
	tok, err := c.Fetch(context.Background(), upstream.Call{Op: "token", Path: "/get", Query: q, Secret: secret, AccessToken: "parent", Shape: shape})
	if err != nil || tok.Value != "tok" || tok.ExpiresIn != 7200*time.Second {
		t.Fatalf("Fetch = %v, %v", tok, err)
	}
	r := s.Last(t)
	if r.Method != http.MethodGet || r.Path != "/base/get" || r.Query.Get("secret") != secret || r.Query.Get("access_token") != "parent" ||
		r.Header.Get("User-Agent") != upstream.UserAgent || r.Header.Get("Accept") != "application/json" || len(r.Body) != 0 {
		t.Fatalf("request %+v", r)
	}
	if _, set := q["access_token"]; set {
		t.Fatal("the caller's query was changed")
	}
	_, _ = c.Fetch(context.Background(), upstream.Call{Op: "post", Method: http.MethodPost, Path: "/post", JSON: map[string]string{"app_secret": secret}, Shape: shape})
	r = s.Last(t)
	var body map[string]string
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json; charset=utf-8" ||
		json.Unmarshal(r.Body, &body) != nil || body["app_secret"] != secret || len(r.Query) != 0 {
		t.Fatalf("request %+v", r)
	}
}

func TestCaller_statuses(t *testing.T) {
	s := upstreamtest.NewServer(t)
	c := newCaller(t, s.URL)
	coded := shape
	coded.CodedStatus = true
	for _, tc := range []struct {
		name   string
		shape  upstream.Shape
		status int
		body   string
		code   int
		class  upstream.Class
	}{
		{"coded 400", coded, 400, `{"errcode":40013,"errmsg":"bad appid"}`, 40013, upstream.ClassConfig},
		{"coded 400 without a code", coded, 400, `{"errcode":0}`, 0, upstream.ClassRetry},
		{"coded 400 html", coded, 400, `<html>`, 0, upstream.ClassRetry},
		{"coded 500 with a code", coded, 500, `{"errcode":40001}`, 40001, upstream.ClassTokenRejected},
		{"uncoded 400 with a code", shape, 400, `{"errcode":40013}`, 0, upstream.ClassRetry},
		{"uncoded 429", shape, 429, `{}`, 0, upstream.ClassRetry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Answer(tc.status, tc.body)
			_, err := c.Fetch(context.Background(), upstream.Call{Op: "x", Path: "/", Shape: tc.shape})
			upstreamtest.WantError(t, err, tc.code, tc.status, tc.class)
		})
	}
}

func TestCaller_garbage(t *testing.T) {
	s := upstreamtest.NewServer(t)
	c := newCaller(t, s.URL)
	cases := append(upstreamtest.GarbageCases(`"errcode":0,"errmsg":"ok"`, "access_token", "expires_in"),
		upstreamtest.Case{Name: "code echoes the secret", Body: `{"errcode":40013,"errmsg":"bad ` + secret + `"}`, Code: 40013, Class: upstream.ClassConfig},
		upstreamtest.Case{Name: "token with a code", Body: `{"errcode":40001,"access_token":"x","expires_in":7200}`, Code: 40001, Class: upstream.ClassTokenRejected},
	)
	upstreamtest.Run(t, s, cases, func() (upstream.Token, error) {
		return c.Fetch(context.Background(), upstream.Call{Op: "x", Path: "/", Secret: secret, Shape: shape})
	}, secret)
}

func TestCaller_transportErrors(t *testing.T) {
	base := upstreamtest.ClosedURL(t)
	c := newCaller(t, base)
	call := upstream.Call{Op: "token", Path: "/get", Query: url.Values{"secret": {secret}}, Secret: secret, AccessToken: "T0K+EN", Shape: shape}
	_, err := c.Fetch(context.Background(), call)
	upstreamtest.WantTransportError(t, err, "token", secret, "T0K+EN")
	var te *upstream.TransportError
	if errors.As(err, &te); te.Timeout() || !strings.HasPrefix(err.Error(), "test: token: Get: ") {
		t.Fatalf("err = %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Fetch(ctx, call)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	_, err = c.Fetch(nil, call) //nolint:staticcheck // a nil context is a caller bug; it must not panic
	upstreamtest.WantTransportError(t, err, "token", secret, "T0K+EN")
}

func TestCaller_timeout(t *testing.T) {
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hs.Close()
	defer close(release)
	c, err := upstream.NewCaller(upstream.CallerConfig{Provider: "test", BaseURL: hs.URL,
		HTTPClient: &http.Client{Timeout: 50 * time.Millisecond, Transport: &http.Transport{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.HTTPClient().CloseIdleConnections()
	err = c.Check(context.Background(), upstream.Call{Op: "probe", Path: "/", AccessToken: "T0K", Shape: shape})
	var te *upstream.TransportError
	if !errors.As(err, &te) || !te.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	upstreamtest.NoLeak(t, err, "T0K")
}

// The default client does not follow redirects: the secret in the query
// must not travel to another URL.
func TestCaller_redirectNotFollowed(t *testing.T) {
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Store(true) }))
	defer target.Close()
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	defer redirect.Close()
	c, err := upstream.NewCaller(upstream.CallerConfig{Provider: "test", BaseURL: redirect.URL, Credentials: creds()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.HTTPClient().CloseIdleConnections()
	_, err = c.Fetch(context.Background(), upstream.Call{Op: "token", Path: "/", Query: url.Values{"secret": {secret}}, Secret: secret, Shape: shape})
	upstreamtest.WantError(t, err, 0, http.StatusFound, upstream.ClassRetry)
	if followed.Load() {
		t.Fatal("redirect followed")
	}
}

func TestDescribeConfig(t *testing.T) {
	got := upstream.DescribeConfig("x.Config", "AppID", "a1", "https://e", time.Minute)
	if got != `x.Config{AppID:"a1" Secret:[REDACTED] BaseURL:"https://e" MinExpiresIn:1m0s}` {
		t.Fatalf("got %s", got)
	}
}

func TestPrinted(t *testing.T) {
	cr := creds()
	c, err := upstream.NewCaller(upstream.CallerConfig{Provider: "test", DefaultBaseURL: "https://example.com", Credentials: cr})
	if err != nil {
		t.Fatal(err)
	}
	p, err := upstream.NewTokenProvider(upstream.CallerConfig{Provider: "test", DefaultBaseURL: "https://example.com", Credentials: cr}, upstream.RepeatNew, nil)
	if err != nil {
		t.Fatal(err)
	}
	upstreamtest.CheckPrinted(t, "app1", secret, *cr, cr, p)
	upstreamtest.CheckPrinted(t, "test", secret, c)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A transport whose error quotes the request (a proxy, a custom
// RoundTripper): the secret and token are redacted from what remains.
func TestCaller_transportErrorQuotingTheRequest(t *testing.T) {
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("proxy refused " + r.URL.RawQuery + " raw secret " + secret + " token T0K+EN")
	})}
	c, err := upstream.NewCaller(upstream.CallerConfig{Provider: "test", BaseURL: "http://127.0.0.1:1", HTTPClient: hc, Credentials: creds()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Fetch(context.Background(), upstream.Call{Op: "token", Path: "/", Query: url.Values{"secret": {secret}}, Secret: secret, AccessToken: "T0K+EN", Shape: shape})
	upstreamtest.WantTransportError(t, err, "token", secret, "T0K+EN")
	if !strings.Contains(err.Error(), "proxy refused") || !strings.Contains(err.Error(), upstream.Redacted) {
		t.Fatalf("err = %v", err)
	}
}
