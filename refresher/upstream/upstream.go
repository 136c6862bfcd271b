// Package upstream is the contract between the refresher and the providers
// that call each upstream's token API: what a fetch returns (Token), why it
// happens (FetchRequest), and how a failure is classified (Error, Class).
// A provider package depends on this contract (and store's Fingerprint),
// never on the refresher itself.
//
// The package also holds the plumbing every provider shares (Caller): one
// HTTP exchange with bounded bodies and no redirects, validation of the
// answer (Shape, ParseToken, ValidateValue, ParseExpiresIn), and errors
// that never carry the secret or a token (TransportError, Redact,
// CleanMessage). It does NOT retry, cache, or know any upstream's error
// codes: each provider package classifies its own.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tokend/tokend/store"
)

// Token is what a provider fetched from the upstream: the raw credential and
// the lifetime the upstream announced for it. Its String and LogValue redact
// the value, so a Token can be logged safely.
type Token struct {
	Value     string
	ExpiresIn time.Duration
}

// String returns a redacted form of the token: a short fingerprint only.
func (t Token) String() string {
	return fmt.Sprintf("token(%s, expires_in=%s)", store.Fingerprint(t.Value), t.ExpiresIn)
}

// LogValue logs the fingerprint and lifetime, never the value.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("fingerprint", store.Fingerprint(t.Value)), slog.Duration("expires_in", t.ExpiresIn))
}

// FetchRequest says why a fetch happens.
type FetchRequest struct {
	// Invalid is the token a business app reported as rejected by the
	// upstream (passive refresh); empty for a proactive refresh. Providers
	// whose upstream returns the same token while it is valid (stable_token)
	// use it to decide whether to force a new one.
	Invalid string
	// ParentToken is, for a ticket provider, the access token to call
	// with, as stored in Redis right before the fetch; "" for a token.
	ParentToken string
}

// Provider fetches one app's token from its upstream. Implementations must be
// safe for concurrent use, must never put the secret or a token into an error
// string, and return *Error for answers the upstream gave.
type Provider interface {
	Fetch(ctx context.Context, req FetchRequest) (Token, error)
}

// Class tells the refresher how to react to a failed fetch.
type Class int

const (
	// ClassRetry is a transient failure (busy, minute quota, 5xx, timeout,
	// malformed body): retried with jittered exponential backoff.
	ClassRetry Class = iota
	// ClassConfig is a configuration or permission error (wrong secret, IP
	// not whitelisted, ...): reported loudly and retried slowly.
	ClassConfig
	// ClassQuota is the daily quota of the account: no calls until it resets.
	ClassQuota
	// ClassTokenRejected: a call made with an access token (a ticket
	// fetch, a probe) was refused for that token (WeChat 40001, 40014,
	// 42001 and their equivalents). The refresher reports the token
	// (compare-and-refresh of the parent) instead of backing off.
	ClassTokenRejected
	// ClassInput: the upstream refused an input pushed to tokend that the
	// fetch was made with (the Open Platform's component_verify_ticket:
	// 61005 expired, 61006 invalid). No retry burns calls: the provider's
	// Gate says when a new input arrived.
	ClassInput
)

func (c Class) String() string {
	switch c {
	case ClassRetry:
		return "retry"
	case ClassConfig:
		return "config"
	case ClassQuota:
		return "quota"
	case ClassTokenRejected:
		return "token_rejected"
	case ClassInput:
		return "input"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Error is a failed answer of an upstream token endpoint. Code is the
// upstream errcode (0 when the failure was not an errcode, e.g. a 5xx or a
// malformed body), Message the upstream's errmsg or a description; neither
// ever contains the secret or a token.
type Error struct {
	Code       int
	Message    string
	HTTPStatus int
	Class      Class
	// ShortLife: the answer was well formed but its expires_in was shorter
	// than the provider's MinExpiresIn. From an upstream that answers the
	// same value until it expires this is the stored value near its end
	// (a rollover to wait for), not a bad answer; the value itself is
	// never handed on.
	ShortLife bool
}

// IsShortLife reports whether err is an *Error with ShortLife set.
func IsShortLife(err error) bool {
	var ue *Error
	return errors.As(err, &ue) && ue.ShortLife
}

func (e *Error) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("upstream: errcode %d: %s", e.Code, e.Message)
	}
	if e.HTTPStatus != 0 {
		return fmt.Sprintf("upstream: http %d: %s", e.HTTPStatus, e.Message)
	}
	return "upstream: " + e.Message
}

// ClassOf classifies any fetch error: an *Error carries its class;
// every other error (network, timeout, cancelled) is transient.
func ClassOf(err error) Class {
	var ue *Error
	if errors.As(err, &ue) {
		return ue.Class
	}
	return ClassRetry
}

// Repeat is what an upstream returns when asked again while the value it
// handed out is still valid; it decides how a fetched value equal to the
// stored one is written.
type Repeat int

const (
	// RepeatNew: every fetch issues a new value (WeChat's classic token
	// endpoint). Written as fetched.
	RepeatNew Repeat = iota
	// RepeatSameTrusted: the same value while it is valid, and expires_in
	// is its true remaining life, possibly extended (wechat_stable, WeCom,
	// Feishu, DingTalk). A repeat keeps the later of the stored and the
	// answered expiry.
	RepeatSameTrusted
	// RepeatSameFirstSeen: the same value until it expires, with an
	// expires_in that does not shrink (JS-SDK tickets). A repeat keeps the
	// first-seen expiry.
	RepeatSameFirstSeen
)

func (r Repeat) String() string {
	switch r {
	case RepeatNew:
		return "new"
	case RepeatSameTrusted:
		return "same_trusted"
	case RepeatSameFirstSeen:
		return "same_first_seen"
	}
	return fmt.Sprintf("repeat(%d)", int(r))
}

// Prober checks a stored access token with a cheap authenticated call
// (WeChat getcallbackip, WeCom get_api_domain_ip). It returns nil when the
// upstream accepted the token, an *Error of ClassTokenRejected when it
// refused it, and any other error when the probe itself failed (which says
// nothing about the token). Implementations follow Provider's rules: safe
// for concurrent use, no secret or token in an error.
type Prober interface {
	Probe(ctx context.Context, token string) error
}
