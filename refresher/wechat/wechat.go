// Package wechat implements upstream.Provider for WeChat Official Account
// access tokens: the classic endpoint (GET /cgi-bin/token, a new token per
// call, the previous one dies five minutes later) and the stable endpoint
// (POST /cgi-bin/stable_token, the same token while it is valid).
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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
	"k8s.io/utils/clock"
)

// DefaultBaseURL is WeChat's API origin.
const DefaultBaseURL = "https://api.weixin.qq.com"

// Limits of an upstream answer.
const (
	// MaxBodyBytes is the largest response body accepted (64 KiB).
	MaxBodyBytes = 64 << 10
	// MaxTokenBytes is the longest access token accepted.
	MaxTokenBytes = 2048
	// MaxExpiresIn is the longest lifetime accepted (one day).
	MaxExpiresIn = 24 * time.Hour
)

// DefaultMinExpiresIn is Config.MinExpiresIn's default.
const DefaultMinExpiresIn = 60 * time.Second

const (
	defaultTimeout = 10 * time.Second
	userAgent      = "tokend"
)

// Config configures a provider. The zero value of each optional field means
// its default.
type Config struct {
	// AppID is the account's appid. Required.
	AppID string
	// Secret is the account's AppSecret. Required; never logged or put in
	// an error.
	Secret string
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
	return fmt.Sprintf("wechat.Config{AppID:%q Secret:%s BaseURL:%q MinExpiresIn:%s}",
		cfg.AppID, redacted, cfg.BaseURL, cfg.MinExpiresIn)
}

// GoString is String, so that %#v redacts too.
func (cfg Config) GoString() string { return cfg.String() }

// LogValue implements slog.LogValuer with the secret left out.
func (cfg Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("appid", cfg.AppID),
		slog.String("base_url", cfg.BaseURL),
		slog.Duration("min_expires_in", cfg.MinExpiresIn),
	)
}

// FieldError is a Config field that NewClassic or NewStable rejects. Msg
// never contains the secret or the base URL.
type FieldError struct {
	Field string // "BaseURL"
	Msg   string // "want an http or https URL"
}

func (e *FieldError) Error() string { return "wechat: config: " + e.Field + ": " + e.Msg }

// withDefaults validates cfg and returns a copy with defaults filled in. It
// does no I/O.
func (cfg Config) withDefaults() (Config, error) {
	fail := func(field, msg string) (Config, error) { return cfg, &FieldError{Field: field, Msg: msg} }
	if strings.TrimSpace(cfg.AppID) == "" {
		return fail("AppID", "required")
	}
	if cfg.Secret == "" {
		return fail("Secret", "required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail("BaseURL", "want an http or https URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fail("BaseURL", "must not have user info, a query or a fragment")
	}
	cfg.BaseURL = strings.TrimRight(u.String(), "/")
	if cfg.MinExpiresIn < 0 || cfg.MinExpiresIn > MaxExpiresIn {
		return fail("MinExpiresIn", fmt.Sprintf("must be from 0 to MaxExpiresIn (%s), got %s", MaxExpiresIn, cfg.MinExpiresIn))
	}
	if cfg.MinExpiresIn == 0 {
		cfg.MinExpiresIn = DefaultMinExpiresIn
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout: defaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return cfg, nil
}

// client sends one token request and turns the answer into a Token or an
// error. It holds no mutable state and is safe for concurrent use.
type client struct {
	cfg Config
}

// do sends req and parses the answer. op names the call in errors.
func (c *client) do(req *http.Request, op string) (upstream.Token, error) {
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return upstream.Token{}, c.transportError(op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return upstream.Token{}, c.transportError(op, err)
	}
	if len(body) > MaxBodyBytes {
		return upstream.Token{}, &upstream.Error{
			Message:    fmt.Sprintf("response body larger than %d bytes", MaxBodyBytes),
			HTTPStatus: resp.StatusCode,
			Class:      upstream.ClassRetry,
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return upstream.Token{}, &upstream.Error{
			Message:    "unexpected status " + resp.Status,
			HTTPStatus: resp.StatusCode,
			Class:      upstream.ClassRetry,
		}
	}
	return parseResponse(body, c.cfg.MinExpiresIn, c.cfg.Secret)
}

// get sends a classic GET /cgi-bin/token.
func (c *client) get(ctx context.Context) (upstream.Token, error) {
	q := url.Values{}
	q.Set("grant_type", "client_credential")
	q.Set("appid", c.cfg.AppID)
	q.Set("secret", c.cfg.Secret)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.BaseURL+"/cgi-bin/token?"+q.Encode(), nil)
	if err != nil {
		return upstream.Token{}, c.transportError("token", err)
	}
	return c.do(req, "token")
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
	body, err := json.Marshal(stableRequest{
		GrantType:    "client_credential",
		AppID:        c.cfg.AppID,
		Secret:       c.cfg.Secret,
		ForceRefresh: force,
	})
	if err != nil {
		return upstream.Token{}, fmt.Errorf("wechat: stable_token: encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+"/cgi-bin/stable_token", bytes.NewReader(body))
	if err != nil {
		return upstream.Token{}, c.transportError("stable_token", err)
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, "stable_token")
}

// TransportError is a failure to exchange a request with the upstream
// (connection refused, timeout, cancelled context, broken body). Its message
// never contains the request URL, whose query carries the secret.
type TransportError struct {
	// Op is the endpoint called: "token" or "stable_token".
	Op  string
	msg string
	err error
}

func (e *TransportError) Error() string { return e.msg }

// Unwrap returns the underlying error with the *url.Error layer removed,
// so errors.Is(err, context.DeadlineExceeded) works.
func (e *TransportError) Unwrap() error { return e.err }

// Timeout reports whether the failure was a timeout.
func (e *TransportError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout() || errors.Is(e.err, context.DeadlineExceeded)
}

// transportError builds a *TransportError from a net/http error, dropping the
// URL and redacting the secret from whatever text remains.
func (c *client) transportError(op string, err error) error {
	method := ""
	for {
		ue, ok := err.(*url.Error)
		if !ok {
			break
		}
		if method == "" {
			method = ue.Op + ": "
		}
		err = ue.Err
	}
	msg := redact(err.Error(), c.cfg.Secret)
	return &TransportError{
		Op:  op,
		msg: "wechat: " + op + ": " + method + msg,
		err: err,
	}
}
