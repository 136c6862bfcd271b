// Package wechat implements upstream.Provider for WeChat Official Account
// access tokens: the classic endpoint (GET /cgi-bin/token, a new token per
// call, the previous one dies five minutes later) and the stable endpoint
// (POST /cgi-bin/stable_token, the same token while it is valid); the
// JS-SDK tickets fetched with a token (GET /cgi-bin/ticket/getticket,
// Ticket); and a Prober that checks a stored token (getcallbackip).
//
// Providers validate every answer (body size, JSON shape, token charset and
// length, expires_in range) and classify failures into refresher classes.
// No error string ever contains the secret or a token: transport errors are
// rebuilt without the request URL, and upstream messages are redacted.
//
// What this package does NOT do: retry, cache, or coordinate with other
// processes. The stable provider's force_refresh limits (20 a day, 30 s
// apart) are tracked in memory per *Stable value only; another process using
// the same account is not seen.
package wechat

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
	"k8s.io/utils/clock"
)

// DefaultBaseURL is WeChat's API origin.
const DefaultBaseURL = "https://api.weixin.qq.com"

// Limits of an upstream answer (the same for every provider; see package
// upstream).
const (
	// MaxBodyBytes is the largest response body accepted (64 KiB).
	MaxBodyBytes = upstream.MaxBodyBytes
	// MaxTokenBytes is the longest access token accepted.
	MaxTokenBytes = upstream.MaxValueBytes
	// MaxExpiresIn is the longest lifetime accepted (one day).
	MaxExpiresIn = upstream.MaxExpiresIn
)

// DefaultMinExpiresIn is Config.MinExpiresIn's default.
const DefaultMinExpiresIn = upstream.DefaultMinExpiresIn

// provider names this package in errors.
const provider = "wechat"

// Config configures a provider. The zero value of each optional field means
// its default.
type Config struct {
	// AppID is the account's appid. Required.
	AppID string
	// Secret is the account's AppSecret. Secret or SecretFunc is
	// required; never logged or put in an error.
	Secret string
	// SecretFunc, when set, is called for each request instead of using
	// Secret (the daemon re-reads a secret_file when it changes). An empty
	// answer fails the fetch with a ClassConfig error, without a call.
	SecretFunc func() string
	// BaseURL is the API origin, http or https. Default DefaultBaseURL.
	BaseURL string
	// HTTPClient sends the requests. Default: a client with a 10 s timeout
	// that does not follow redirects (a redirect would carry the secret to
	// another URL; a 3xx answer is a ClassRetry error instead).
	HTTPClient *http.Client
	// MinExpiresIn is the shortest expires_in accepted; shorter answers are
	// ClassRetry errors. Default DefaultMinExpiresIn (60 s); tests with
	// compressed time lower it. Must not exceed MaxExpiresIn.
	MinExpiresIn time.Duration
	// Clock tells the time for the stable provider's force_refresh limits.
	// Default: the real clock.
	Clock clock.PassiveClock
}

// String describes cfg with the secret redacted, so that printing or
// logging a Config (or a provider) never shows it.
func (cfg Config) String() string {
	return upstream.DescribeConfig("wechat.Config", "AppID", cfg.AppID, cfg.BaseURL, cfg.MinExpiresIn)
}

// GoString is String, so that %#v redacts too.
func (cfg Config) GoString() string { return cfg.String() }

// LogValue implements slog.LogValuer with the secret left out.
func (cfg Config) LogValue() slog.Value {
	return upstream.ConfigLogValue("appid", cfg.AppID, cfg.BaseURL, cfg.MinExpiresIn)
}

// FieldError is a Config field that a constructor rejects (moved to
// package upstream; its message still starts "wechat: config: ").
type FieldError = upstream.FieldError

// TransportError is a failed exchange with the upstream (moved to package
// upstream). Its message never contains the request URL.
type TransportError = upstream.TransportError

// newClient validates cfg and returns a client with cfg's defaults filled
// in. It does no I/O.
func newClient(cfg Config) (client, error) {
	c, err := upstream.NewCaller(upstream.CallerConfig{
		Provider: provider, DefaultBaseURL: DefaultBaseURL,
		BaseURL: cfg.BaseURL, HTTPClient: cfg.HTTPClient, MinExpiresIn: cfg.MinExpiresIn,
		Credentials: &upstream.Credentials{IDField: "AppID", ID: cfg.AppID, Secret: cfg.Secret, SecretFunc: cfg.SecretFunc},
	})
	if err != nil {
		return client{}, err
	}
	cfg.BaseURL, cfg.HTTPClient, cfg.MinExpiresIn = c.BaseURL(), c.HTTPClient(), c.MinExpiresIn()
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return client{cfg: cfg, up: c}, nil
}

// client sends token requests. It holds no mutable state and is safe for
// concurrent use.
type client struct {
	cfg Config // with defaults filled in
	up  *upstream.Caller
}

// get sends a classic GET /cgi-bin/token.
func (c *client) get(ctx context.Context) (upstream.Token, error) {
	return c.up.FetchWithSecret(ctx, func(secret string) upstream.Call {
		return upstream.Call{
			Op:    "token",
			Path:  "/cgi-bin/token",
			Query: url.Values{"grant_type": {"client_credential"}, "appid": {c.cfg.AppID}, "secret": {secret}},
			Shape: tokenShape,
		}
	})
}

// stableRequest is the body of POST /cgi-bin/stable_token.
type stableRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

// post sends POST /cgi-bin/stable_token.
func (c *client) post(ctx context.Context, force bool) (upstream.Token, error) {
	return c.up.FetchWithSecret(ctx, func(secret string) upstream.Call {
		return upstream.Call{
			Op:     "stable_token",
			Method: http.MethodPost,
			Path:   "/cgi-bin/stable_token",
			JSON:   stableRequest{GrantType: "client_credential", AppID: c.cfg.AppID, Secret: secret, ForceRefresh: force},
			Shape:  tokenShape,
		}
	})
}
