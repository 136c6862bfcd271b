package upstream

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Limits and defaults every provider applies to its upstream.
const (
	// MaxBodyBytes is the largest response body accepted (64 KiB).
	MaxBodyBytes = 64 << 10
	// MaxValueBytes is the longest token or ticket accepted.
	MaxValueBytes = 2048
	// MaxExpiresIn is the longest lifetime accepted (one day).
	MaxExpiresIn = 24 * time.Hour
	// DefaultMinExpiresIn is the shortest lifetime accepted by default.
	DefaultMinExpiresIn = 60 * time.Second
	// DefaultTimeout bounds one exchange with the default HTTP client.
	DefaultTimeout = 10 * time.Second
	// UserAgent is sent with every request.
	UserAgent = "tokend"
)

// FieldError is a provider Config field that a constructor rejects. Msg
// never contains the secret or the base URL.
type FieldError struct {
	Provider string // "wechat"
	Field    string // "BaseURL"
	Msg      string // "want an http or https URL"
}

func (e *FieldError) Error() string { return e.Provider + ": config: " + e.Field + ": " + e.Msg }

// Credentials are an app's identity and secret, as a token endpoint takes
// them.
type Credentials struct {
	// IDField names the identity in errors: "AppID", "CorpID", "AppKey".
	IDField string
	// ID is the identity (appid, corpid, appkey). Required, not blank.
	ID string
	// Secret is the fixed secret, used when SecretFunc is nil.
	Secret string
	// SecretFunc, when set, is called for each request instead of using
	// Secret, so that a secret file can be re-read without a restart.
	SecretFunc func() string
}

// String describes c without the secret.
func (c Credentials) String() string {
	return "upstream.Credentials{" + c.IDField + ":" + c.ID + " Secret:" + Redacted + "}"
}

// GoString is String, so that %#v redacts too.
func (c Credentials) GoString() string { return c.String() }

// CallerConfig is what every provider's Config shares. The zero value of
// each optional field means its default.
type CallerConfig struct {
	// Provider names the provider in errors: "wechat". Required.
	Provider string
	// DefaultBaseURL is used when BaseURL is empty.
	DefaultBaseURL string
	// BaseURL is the API origin, http or https, optionally with a path
	// prefix; no user info, query or fragment.
	BaseURL string
	// HTTPClient sends the requests. Default: a client with a
	// DefaultTimeout timeout that does not follow redirects (a redirect
	// would carry the secret or a token to another URL; a 3xx answer is a
	// ClassRetry error instead).
	HTTPClient *http.Client
	// MinExpiresIn is the shortest expires_in accepted; shorter answers
	// are ClassRetry errors. Default DefaultMinExpiresIn. Must not exceed
	// MaxExpiresIn.
	MinExpiresIn time.Duration
	// Credentials, for a token endpoint; nil for calls made with an
	// access token only (tickets, probes).
	Credentials *Credentials
}

// Caller sends requests to one upstream under tokend's rules (bounded
// bodies, no redirects, validated answers, errors without secrets). It
// holds no mutable state and is safe for concurrent use.
type Caller struct {
	provider     string
	baseURL      string
	hc           *http.Client
	minExpiresIn time.Duration
	creds        *Credentials
}

// NewCaller validates cfg (no I/O) and returns a Caller. Errors are
// *FieldError.
func NewCaller(cfg CallerConfig) (*Caller, error) {
	fail := func(field, msg string) (*Caller, error) {
		return nil, &FieldError{Provider: cfg.Provider, Field: field, Msg: msg}
	}
	c := &Caller{provider: cfg.Provider, hc: cfg.HTTPClient, minExpiresIn: cfg.MinExpiresIn}
	if cr := cfg.Credentials; cr != nil {
		if strings.TrimSpace(cr.ID) == "" {
			return fail(cr.IDField, "required")
		}
		if cr.Secret == "" && cr.SecretFunc == nil {
			return fail("Secret", "required (Secret or SecretFunc)")
		}
		copied := *cr
		c.creds = &copied
	}
	base := cfg.BaseURL
	if base == "" {
		base = cfg.DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail("BaseURL", "want an http or https URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fail("BaseURL", "must not have user info, a query or a fragment")
	}
	c.baseURL = strings.TrimRight(u.String(), "/")
	if c.minExpiresIn < 0 || c.minExpiresIn > MaxExpiresIn {
		return fail("MinExpiresIn", fmt.Sprintf("must be from 0 to MaxExpiresIn (%s), got %s", MaxExpiresIn, c.minExpiresIn))
	}
	if c.minExpiresIn == 0 {
		c.minExpiresIn = DefaultMinExpiresIn
	}
	if c.hc == nil {
		c.hc = &http.Client{
			Timeout: DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	return c, nil
}

// String names the caller without the secret: "upstream.Caller(wechat https://...)".
func (c *Caller) String() string { return "upstream.Caller(" + c.provider + " " + c.baseURL + ")" }

// GoString is String, so that %#v redacts too.
func (c *Caller) GoString() string { return c.String() }

// BaseURL is the validated origin, without a trailing slash.
func (c *Caller) BaseURL() string { return c.baseURL }

// HTTPClient is the client requests are sent with.
func (c *Caller) HTTPClient() *http.Client { return c.hc }

// MinExpiresIn is the shortest lifetime accepted.
func (c *Caller) MinExpiresIn() time.Duration { return c.minExpiresIn }

// ID is the credentials' identity; "" without credentials.
func (c *Caller) ID() string {
	if c.creds == nil {
		return ""
	}
	return c.creds.ID
}

// Secret returns the secret to send now: SecretFunc's answer when set,
// else Secret. An empty secret is a ClassConfig *Error (nothing is sent).
func (c *Caller) Secret() (string, error) {
	var s string
	if c.creds != nil {
		s = c.creds.Secret
		if c.creds.SecretFunc != nil {
			s = c.creds.SecretFunc()
		}
	}
	if s == "" {
		return "", &Error{Message: c.provider + ": the secret is empty", Class: ClassConfig}
	}
	return s, nil
}

// DescribeConfig formats a provider Config for String and GoString with
// the secret left out: name{IDField:"id" Secret:[REDACTED] BaseURL:"..." MinExpiresIn:...}.
func DescribeConfig(name, idField, id, baseURL string, minExpiresIn time.Duration) string {
	return fmt.Sprintf("%s{%s:%q Secret:%s BaseURL:%q MinExpiresIn:%s}", name, idField, id, Redacted, baseURL, minExpiresIn)
}

// ConfigLogValue is a provider Config's slog value without the secret.
// idKey is the identity's log key ("appid", "corpid", ...).
func ConfigLogValue(idKey, id, baseURL string, minExpiresIn time.Duration) slog.Value {
	return slog.GroupValue(
		slog.String(idKey, id),
		slog.String("base_url", baseURL),
		slog.Duration("min_expires_in", minExpiresIn),
	)
}
