// Package proxy is tokend's proxy mode (http.proxy): a WeChat or WeCom
// API call sent to tokend with an app's access_token in the query is
// forwarded to that app's configured upstream with the app's current
// token substituted, and retried once, after a compare-and-refresh, when
// the upstream rejects the token (40001, 40014, 42001). Callers then
// never see an invalidated token, and only tokend's hosts call the
// upstream (WeChat's IP whitelist).
//
// It is an httputil.ReverseProxy: request and response bodies stream
// (32 KiB buffers; media downloads and multipart uploads included),
// hop-by-hop headers are dropped, Content-Type and Content-Length kept.
// Only the base URLs in Config.Upstreams are ever contacted, over a
// transport of its own (never an environment proxy), so a slow upstream
// holds proxy connections, not token serving. Requests that break the
// local rules (rules.go: origin-form targets, a Host naming tokend,
// known path prefixes, no dot segments or encoded separators, one
// access_token) are answered locally in WeChat's envelope and never
// forwarded.
//
// What it does NOT promise: a retry when the request body was larger
// than RetryBodyLimit (it streams and cannot be sent again) or when the
// rejection is not in a JSON body of at most inspectLimit bytes; that the
// upstream did not act on the rejected first attempt (it rejected the
// token, so it should not have); tokens other than access_token (a
// component_access_token, a user's OAuth token) are not substituted;
// Feishu and DingTalk calls are not proxied.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"k8s.io/utils/clock"
)

// Outcomes of a proxied request, as Config.Observe receives them.
const (
	Forwarded     = "forwarded"      // the upstream's answer passed through
	Retried       = "retried"        // rejected token; refreshed and sent again
	RejectedLocal = "rejected_local" // answered by tokend, nothing forwarded
	UpstreamError = "upstream_error" // the upstream could not be reached or timed out
	Busy          = "busy"           // the app's concurrency limit was full: -1 answered
)

// Defaults and bounds of Config.
const (
	DefaultMaxBody       = 32 << 20
	DefaultTimeout       = 60 * time.Second
	DefaultMaxConcurrent = 64
	// RetryBodyLimit: a request body up to this size is buffered, so the
	// request can be sent again after a token refresh; larger ones stream.
	RetryBodyLimit = 1 << 20
	// inspectLimit: only JSON answers up to this size are read for a
	// rejected-token errcode.
	inspectLimit = 64 << 10
)

// Config configures a Proxy. Lookup, Upstreams, Token and Refresh are
// required.
type Config struct {
	// Lookup finds the app whose current (or overlapping previous) token
	// tok is (compat.Routes.AppByToken).
	Lookup func(ctx context.Context, tok string) (app string, ok bool)
	// Upstreams are the base URLs by app id (http or https, no query):
	// the only hosts ever contacted. An app without one is not proxied.
	Upstreams map[string]string
	// Token returns app's current token.
	Token func(ctx context.Context, app string) (string, error)
	// Refresh is compare-and-refresh of app's token reported rejected,
	// waiting a bounded time: the token to use now, or false.
	Refresh func(ctx context.Context, app, reported string) (string, bool)
	// Authorize decides whether r may call app's APIs, naming the client
	// for the log; nil: every caller may.
	Authorize func(r *http.Request, app string) (client string, ok bool)
	// Hosts are the Host header names accepted besides IP literals and
	// localhost (http.proxy_hosts).
	Hosts []string
	// MaxBody caps a request body. Default DefaultMaxBody.
	MaxBody int64
	// Timeout bounds one proxied request, both attempts and the body
	// copies included. Default DefaultTimeout.
	Timeout time.Duration
	// MaxConcurrent caps the requests in flight per app; the next gets -1
	// "system busy" at once. Default DefaultMaxConcurrent.
	MaxConcurrent int
	// Observe counts a finished request by app ("" when unknown), path
	// label and outcome; nil: not counted.
	Observe func(app, prefix, outcome string, took time.Duration)
	// Transport sends upstream requests. Default: a transport of the
	// proxy's own, without any environment proxy.
	Transport http.RoundTripper
	// Clock measures durations for Observe. Default: the real clock.
	Clock clock.PassiveClock
	// Logger defaults to discarding. Tokens are never logged.
	Logger *slog.Logger
}

// Proxy forwards API calls (ServeHTTP). Safe for concurrent use.
type Proxy struct {
	cfg       Config
	upstreams map[string]*url.URL
	slots     map[string]chan struct{} // per app: a semaphore of MaxConcurrent
	rp        *httputil.ReverseProxy
}

// ErrConfig is returned by New for an invalid Config.
var ErrConfig = errors.New("proxy: invalid config")

// New returns a Proxy for cfg, or an error wrapping ErrConfig.
func New(cfg Config) (*Proxy, error) {
	if cfg.Lookup == nil || cfg.Token == nil || cfg.Refresh == nil {
		return nil, fmt.Errorf("%w: Lookup, Token and Refresh are required", ErrConfig)
	}
	if cfg.MaxBody < 0 || cfg.Timeout < 0 || cfg.MaxConcurrent < 0 {
		return nil, fmt.Errorf("%w: negative MaxBody, Timeout or MaxConcurrent", ErrConfig)
	}
	cfg.Upstreams = maps.Clone(cfg.Upstreams)
	cfg.Hosts = append([]string(nil), cfg.Hosts...)
	cfg.MaxBody = cmpOr(cfg.MaxBody, DefaultMaxBody)
	cfg.Timeout = cmpOr(cfg.Timeout, DefaultTimeout)
	cfg.MaxConcurrent = cmpOr(cfg.MaxConcurrent, DefaultMaxConcurrent)
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observe == nil {
		cfg.Observe = func(string, string, string, time.Duration) {}
	}
	if cfg.Transport == nil {
		cfg.Transport = newTransport(cfg.Timeout)
	}
	p := &Proxy{cfg: cfg, upstreams: map[string]*url.URL{}, slots: map[string]chan struct{}{}}
	for app, base := range cfg.Upstreams {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("%w: app %s: base URL must be http(s)://host[:port][/path] without query or user", ErrConfig, app)
		}
		p.upstreams[app] = u
		p.slots[app] = make(chan struct{}, cfg.MaxConcurrent)
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      p.rewrite,
		Transport:    &retryTransport{base: cfg.Transport, refresh: cfg.Refresh},
		ErrorHandler: p.upstreamFailed,
		ErrorLog:     slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return p, nil
}

func cmpOr[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// newTransport is the upstream transport: its own connection pool, no
// environment proxy, every phase bounded.
func newTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
}

// ServeHTTP forwards r or answers it locally.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := p.cfg.Clock.Now()
	app, prefix, outcome := "", pathLabel(r.URL.Path), RejectedLocal
	defer func() { p.cfg.Observe(app, prefix, outcome, p.cfg.Clock.Since(start)) }()
	c, rej := classify(r, p.cfg.Hosts)
	if rej == nil {
		app, rej = p.admit(r, c)
	}
	if rej != nil {
		writeLocal(w, *rej)
		return
	}
	slots := p.slots[app]
	select {
	case slots <- struct{}{}:
		defer func() { <-slots }()
	default:
		outcome = Busy
		writeLocal(w, rejection{http.StatusOK, -1, "system busy: tokend's proxy limit of concurrent calls for this app is reached (http.proxy_max_concurrent)"})
		return
	}
	outcome = p.forward(w, r, app, c)
}

// admit finds and authorizes the app of c's token: the app, or the
// rejection to answer.
func (p *Proxy) admit(r *http.Request, c call) (string, *rejection) {
	app, ok := p.cfg.Lookup(r.Context(), c.token)
	if !ok {
		return "", &rejection{http.StatusOK, 40001, "invalid credential, access_token is invalid or not latest (tokend keeps no app with this token)"}
	}
	if p.upstreams[app] == nil {
		return app, &rejection{http.StatusOK, 40001, "invalid credential: tokend proxies only the calls of WeChat and WeCom apps"}
	}
	if p.cfg.Authorize != nil {
		client, ok := p.cfg.Authorize(r, app)
		if !ok {
			ip, _, _ := net.SplitHostPort(r.RemoteAddr)
			return app, &rejection{http.StatusOK, 40164, "invalid ip " + ip + ", not in tokend's client allowlist"}
		}
		p.cfg.Logger.Debug("proxy: authorized", "app", app, "client", client)
	}
	return app, nil
}
