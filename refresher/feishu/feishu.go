// Package feishu implements upstream.Provider for Feishu (飞书) / Lark
// custom apps: the tenant access token of POST
// /open-apis/auth/v3/tenant_access_token/internal.
//
// Every answer is validated (body size, JSON shape, token charset and
// length, expire range) and failures are classified into refresher
// classes. No error string ever contains the secret or a token.
//
// What this package does NOT do: retry, cache, store apps (app_ticket),
// user tokens, or the newer OAuth endpoint (accounts.feishu.cn/oauth/v3/token,
// whose JWT tokens can exceed upstream.MaxValueBytes).
package feishu

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
)

// DefaultBaseURL is Feishu's API origin (Lark: https://open.larksuite.com).
const DefaultBaseURL = "https://open.feishu.cn"

// provider names this package in errors.
const provider = "feishu"

// Config configures a custom app's token provider. The zero value of each
// optional field means its default.
type Config struct {
	// AppID is the app's app_id ("cli_..."). Required.
	AppID string
	// Secret is the app's app_secret. Secret or SecretFunc is required;
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
	// MinExpiresIn is the shortest expire accepted. Default
	// upstream.DefaultMinExpiresIn (60 s); at most upstream.MaxExpiresIn.
	MinExpiresIn time.Duration
}

// String describes cfg with the secret redacted.
func (cfg Config) String() string {
	return upstream.DescribeConfig("feishu.Config", "AppID", cfg.AppID, cfg.BaseURL, cfg.MinExpiresIn)
}

// GoString is String, so that %#v redacts too.
func (cfg Config) GoString() string { return cfg.String() }

// LogValue implements slog.LogValuer with the secret left out.
func (cfg Config) LogValue() slog.Value {
	return upstream.ConfigLogValue("app_id", cfg.AppID, cfg.BaseURL, cfg.MinExpiresIn)
}

// tokenShape: {"code":0,"msg":"ok","tenant_access_token":"t-...","expire":7200}.
// Feishu answers some errors with HTTP 400 and a code (10014 "app secret
// invalid"), so a coded non-2xx answer is classified by its code.
var tokenShape = upstream.Shape{
	Code: "code", Message: "msg", Value: "tenant_access_token", ExpiresIn: "expire",
	Classify: Classify, CodedStatus: true,
}

// Classify maps a Feishu code of the token endpoint to a refresher class:
// ClassConfig for 10003 ("invalid param": app_id missing or unknown) and
// 10014 ("app secret invalid"), as SDKs and Feishu's answers show them
// (e.g. lark-oapi users' reports of {"code":10014,"msg":"app secret
// invalid"} with HTTP 400); ClassRetry for every other code, including
// 99991400 (rate limit). Feishu's IP allowlist does not apply to the
// access-token endpoints (https://open.larkoffice.com/document/ukTMukTMukTM/ucTMxYjL3ETM24yNxEjN),
// so there is no IP code to expect here.
func Classify(code int) upstream.Class {
	switch code {
	case 10003, 10014:
		return upstream.ClassConfig
	}
	return upstream.ClassRetry
}

// callerConfig is cfg as upstream.NewCaller takes it.
func (cfg Config) callerConfig() upstream.CallerConfig {
	return upstream.CallerConfig{
		Provider: provider, DefaultBaseURL: DefaultBaseURL,
		BaseURL: cfg.BaseURL, HTTPClient: cfg.HTTPClient, MinExpiresIn: cfg.MinExpiresIn,
		Credentials: &upstream.Credentials{IDField: "AppID", ID: cfg.AppID, Secret: cfg.Secret, SecretFunc: cfg.SecretFunc},
	}
}

// Provider fetches the tenant access token of a custom app
// (https://open.larkoffice.com/document/ukTMukTMukTM/ukDNz4SO0MjL5QzM/auth-v3/auth/tenant_access_token_internal):
// with 30 min or more left, a call returns the same token and its true
// remaining life; inside the last 30 min it returns a new one and both
// stay valid until their own expiry. Repeat is RepeatSameTrusted. Fetch
// ignores FetchRequest.Invalid (Feishu has no force refresh). A code
// other than 0 is an *upstream.Error with Feishu's msg; failed exchanges
// are *upstream.TransportError. Safe for concurrent use.
type Provider = upstream.TokenProvider

// tokenRequest is the body of the token call.
type tokenRequest struct {
	AppID     string `json:"app_id"`
	AppSecret string `json:"app_secret"`
}

// New validates cfg and returns the app's token provider (no I/O); cfg is
// copied. Errors are *upstream.FieldError.
func New(cfg Config) (*Provider, error) {
	return upstream.NewTokenProvider(cfg.callerConfig(), upstream.RepeatSameTrusted, func(appID, secret string) upstream.Call {
		return upstream.Call{
			Op:     "tenant_access_token",
			Method: http.MethodPost,
			Path:   "/open-apis/auth/v3/tenant_access_token/internal",
			JSON:   tokenRequest{AppID: appID, AppSecret: secret},
			Shape:  tokenShape,
		}
	})
}
