// Package wecom implements upstream.Provider for WeCom (企业微信) self-built
// apps: the app's access token (GET /cgi-bin/gettoken with the corpid and
// the app's corpsecret), its JS-SDK tickets (the corp ticket for wx.config,
// the app ticket for wx.agentConfig) and a prober for stored tokens.
//
// Every answer is validated (body size, JSON shape, value charset and
// length, expires_in range) and failures are classified into refresher
// classes. No error string ever contains the secret or a token.
//
// What this package does NOT do: retry, cache, or count WeCom's call
// limits (tickets: 400 an hour per corp, 100 an hour per app); the
// refresher's budgets do that.
package wecom

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
)

// DefaultBaseURL is WeCom's API origin.
const DefaultBaseURL = "https://qyapi.weixin.qq.com"

// provider names this package in errors.
const provider = "wecom"

// Config configures an app's token provider. The zero value of each
// optional field means its default.
type Config struct {
	// CorpID is the corp's corpid. Required.
	CorpID string
	// Secret is the app's corpsecret. Secret or SecretFunc is required;
	// never logged or put in an error.
	Secret string
	// SecretFunc, when set, is called for each request instead of using
	// Secret. An empty answer fails the fetch with a ClassConfig error.
	SecretFunc func() string
	// BaseURL is the API origin, http or https. Default DefaultBaseURL.
	BaseURL string
	// HTTPClient sends the requests. Default: a 10 s timeout, no
	// redirects followed.
	HTTPClient *http.Client
	// MinExpiresIn is the shortest expires_in accepted. Default
	// upstream.DefaultMinExpiresIn (60 s); at most upstream.MaxExpiresIn.
	MinExpiresIn time.Duration
}

// String describes cfg with the secret redacted.
func (cfg Config) String() string {
	return upstream.DescribeConfig("wecom.Config", "CorpID", cfg.CorpID, cfg.BaseURL, cfg.MinExpiresIn)
}

// GoString is String, so that %#v redacts too.
func (cfg Config) GoString() string { return cfg.String() }

// LogValue implements slog.LogValuer with the secret left out.
func (cfg Config) LogValue() slog.Value {
	return upstream.ConfigLogValue("corpid", cfg.CorpID, cfg.BaseURL, cfg.MinExpiresIn)
}

// callerConfig is cfg as upstream.NewCaller takes it.
func (cfg Config) callerConfig() upstream.CallerConfig {
	return upstream.CallerConfig{
		Provider: provider, DefaultBaseURL: DefaultBaseURL,
		BaseURL: cfg.BaseURL, HTTPClient: cfg.HTTPClient, MinExpiresIn: cfg.MinExpiresIn,
		Credentials: &upstream.Credentials{IDField: "CorpID", ID: cfg.CorpID, Secret: cfg.Secret, SecretFunc: cfg.SecretFunc},
	}
}

// Provider fetches an app's access token, GET /cgi-bin/gettoken
// (https://developer.work.weixin.qq.com/document/path/91039). WeCom
// answers {"errcode":0,"errmsg":"ok","access_token":"...","expires_in":7200}
// and returns the same token while it is valid, with its true remaining
// life (possibly extended): Repeat is RepeatSameTrusted. The token may
// still be invalidated early, which readers report. Fetch ignores
// FetchRequest.Invalid (WeCom has no force refresh). Errors are
// *upstream.Error for answers of the upstream and *upstream.TransportError
// for failed exchanges. Safe for concurrent use.
type Provider = upstream.TokenProvider

// New validates cfg and returns the app's token provider (no I/O); cfg is
// copied. Errors are *upstream.FieldError.
func New(cfg Config) (*Provider, error) {
	return upstream.NewTokenProvider(cfg.callerConfig(), upstream.RepeatSameTrusted, func(corpID, secret string) upstream.Call {
		return upstream.Call{
			Op:    "gettoken",
			Path:  "/cgi-bin/gettoken",
			Query: url.Values{"corpid": {corpID}, "corpsecret": {secret}},
			Shape: tokenShape,
		}
	})
}
