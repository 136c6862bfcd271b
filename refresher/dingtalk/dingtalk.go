// Package dingtalk implements upstream.Provider for DingTalk (钉钉)
// internal apps: the app's access token (GET /gettoken with the appkey and
// appsecret) and its JS-SDK ticket (GET /get_jsapi_ticket).
//
// Every answer is validated (body size, JSON shape, value charset and
// length, expires_in range) and failures are classified into refresher
// classes. No error string ever contains the secret or a token.
//
// What this package does NOT do: retry, cache, third-party (ISV) apps, or
// the newer api.dingtalk.com OAuth endpoints.
package dingtalk

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
)

// DefaultBaseURL is DingTalk's API origin.
const DefaultBaseURL = "https://oapi.dingtalk.com"

// provider names this package in errors.
const provider = "dingtalk"

// Config configures an app's token provider. The zero value of each
// optional field means its default.
type Config struct {
	// AppKey is the app's appkey (its Client ID). Required.
	AppKey string
	// Secret is the app's appsecret. Secret or SecretFunc is required;
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
	return upstream.DescribeConfig("dingtalk.Config", "AppKey", cfg.AppKey, cfg.BaseURL, cfg.MinExpiresIn)
}

// GoString is String, so that %#v redacts too.
func (cfg Config) GoString() string { return cfg.String() }

// LogValue implements slog.LogValuer with the secret left out.
func (cfg Config) LogValue() slog.Value {
	return upstream.ConfigLogValue("appkey", cfg.AppKey, cfg.BaseURL, cfg.MinExpiresIn)
}

// The answers of DingTalk's endpoints: errcode/errmsg always present, HTTP
// 200 for errors too.
var (
	tokenShape  = upstream.ErrcodeShape("access_token", Classify)
	ticketShape = upstream.ErrcodeShape("ticket", ClassifyWithToken)
)

// Classify maps a DingTalk gettoken errcode to a refresher class. Codes
// from DingTalk's global error codes (open-doc.dingtalk.com
// serverapi2/npfg02, as quoted by developer communities) and answers
// developers report (https://developer.aliyun.com/ask/578910: 40089 on
// /gettoken for a wrong appkey or appsecret; 60020 "访问ip不在白名单之中"):
//   - ClassConfig: 40001 (wrong secret), 40089 (invalid appkey or
//     appsecret, as the global table lists it), 40096 (invalid appkey or
//     appsecret, as real gettoken calls answer), 60020 (caller IP not in
//     the whitelist);
//   - ClassRetry: -1 (busy), 88 (auth error with a sub_code, often a
//     transient throttle) and every code it does not know.
func Classify(code int) upstream.Class {
	switch code {
	case 40001, 40089, 40096, 60020:
		return upstream.ClassConfig
	}
	return upstream.ClassRetry
}

// ClassifyWithToken maps the errcode of a call made with an access token
// (a ticket fetch): ClassTokenRejected for 40001 ("access_token无效"),
// 40014 (invalid token; DingTalk also answers it for an expired one,
// https://developer.aliyun.com/ask/242976), 42001 (token timed out) and
// 41001 (token missing); otherwise as Classify.
func ClassifyWithToken(code int) upstream.Class {
	switch code {
	case 40001, 40014, 42001, 41001:
		return upstream.ClassTokenRejected
	}
	return Classify(code)
}

// callerConfig is cfg as upstream.NewCaller takes it.
func (cfg Config) callerConfig() upstream.CallerConfig {
	return upstream.CallerConfig{
		Provider: provider, DefaultBaseURL: DefaultBaseURL,
		BaseURL: cfg.BaseURL, HTTPClient: cfg.HTTPClient, MinExpiresIn: cfg.MinExpiresIn,
		Credentials: &upstream.Credentials{IDField: "AppKey", ID: cfg.AppKey, Secret: cfg.Secret, SecretFunc: cfg.SecretFunc},
	}
}

// Provider fetches an app's access token, GET /gettoken
// (https://developers.dingtalk.com/document/app/obtain-orgapp-token): a
// repeat call within validity returns the same token and extends its
// life, so expires_in is its true remaining life: Repeat is
// RepeatSameTrusted. Fetch ignores FetchRequest.Invalid (DingTalk has no
// force refresh). Errors are *upstream.Error for answers of the upstream
// and *upstream.TransportError for failed exchanges. Safe for concurrent
// use.
type Provider = upstream.TokenProvider

// New validates cfg and returns the app's token provider (no I/O); cfg is
// copied. Errors are *upstream.FieldError.
func New(cfg Config) (*Provider, error) {
	return upstream.NewTokenProvider(cfg.callerConfig(), upstream.RepeatSameTrusted, func(appKey, secret string) upstream.Call {
		return upstream.Call{
			Op:    "gettoken",
			Path:  "/gettoken",
			Query: url.Values{"appkey": {appKey}, "appsecret": {secret}},
			Shape: tokenShape,
		}
	})
}

// ticketKinds: GET /get_jsapi_ticket?access_token=.
var ticketKinds = []upstream.TicketKind{
	{Kind: "jsapi", Call: upstream.Call{Op: "get_jsapi_ticket", Path: "/get_jsapi_ticket", Shape: ticketShape}},
}

// TicketKinds are DingTalk's JS-SDK ticket kinds: "jsapi" (dd.config).
// Changing it changes nothing: NewTicket checks its own copy.
var TicketKinds = upstream.KindNames(ticketKinds)

// TicketConfig configures a ticket provider: Kind ("jsapi"), BaseURL
// (default DefaultBaseURL), HTTPClient, MinExpiresIn.
type TicketConfig = upstream.TicketConfig

// Ticket fetches the JS-SDK ticket, GET /get_jsapi_ticket, with the parent
// access token (FetchRequest.ParentToken); it lives 7200 s and a repeat
// call returns the same ticket (Repeat is RepeatSameFirstSeen). A refused
// token is a ClassTokenRejected error. Safe for concurrent use.
type Ticket = upstream.Ticket

// NewTicket validates cfg and returns a ticket provider (no I/O); cfg is
// copied. Errors are *upstream.FieldError.
func NewTicket(cfg TicketConfig) (*Ticket, error) {
	return upstream.NewTicket(provider, DefaultBaseURL, cfg, ticketKinds)
}
