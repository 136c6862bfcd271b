// Package openplatform implements the WeChat Open Platform (第三方平台)
// side of the refresher: the component_access_token of a third-party
// platform ("component"), fetched with POST
// /cgi-bin/component/api_component_token and the newest
// component_verify_ticket WeChat pushed to the platform's callback URL.
//
// A Component is an upstream.Provider and an upstream.Gate: it reads the
// stored verify ticket (Config.VerifyTicket, from Redis) right before each
// call; with none stored, or only one the upstream already refused
// (61005 expired, 61006 invalid), it is not ready and no call is made:
// the refresher waits for the next push. Tend asks WeChat to resume
// pushes (api_start_push_ticket) when no ticket is stored at all or the
// newest one is older than Config.StartPushAfter, at most once per
// Config.StartPushEvery.
//
// Whether a new component token retires the previous one is not
// documented: it is treated like the classic token (upstream.RepeatNew).
//
// What it does NOT do: receive pushes (the HTTP callback does, any
// replica, storing through package store), or share across processes the
// refused ticket and the time of the last start-push call: a new leader
// may spend one call on a ticket the old leader saw refused, and one
// start-push call sooner than StartPushEvery. Authorizer tokens are phase 2.
package openplatform

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/platform"
)

// Defaults of Config.
const (
	DefaultStartPushAfter = 20 * time.Minute
	DefaultStartPushEvery = 10 * time.Minute
)

// WaitingFor is what a Component waits for when not ready (status).
const (
	WaitingTicket    = "component_verify_ticket"
	WaitingNewTicket = "a component_verify_ticket newer than the refused one"
)

const provider = "openplatform"

// Config configures a Component. ComponentAppID, a secret and
// VerifyTicket are required.
type Config struct {
	// ComponentAppID is the third-party platform's appid.
	ComponentAppID string
	// Secret or SecretFunc gives the component_appsecret (SecretFunc is
	// called per request: a rotated secret file is used at once).
	Secret     string
	SecretFunc func() string
	// BaseURL is the API origin. Default wechat.DefaultBaseURL.
	BaseURL    string
	HTTPClient *http.Client
	// MinExpiresIn: shorter answers are refused. Default
	// upstream.DefaultMinExpiresIn.
	MinExpiresIn time.Duration
	// VerifyTicket reads the stored verify ticket: store.ErrNotFound when
	// none, store.ErrCorrupt for garbage (both: not ready, no call).
	VerifyTicket func(ctx context.Context) (platform.StoredVerifyTicket, error)
	// StartPushAfter: a stored ticket older than this (Redis's clock)
	// means pushes stopped. Default DefaultStartPushAfter (20m).
	StartPushAfter time.Duration
	// StartPushEvery bounds api_start_push_ticket calls. Default
	// DefaultStartPushEvery (10m), or StartPushAfter/2 when that is
	// shorter.
	StartPushEvery time.Duration
	// Clock times the start-push rate. Default: the real clock.
	Clock clock.PassiveClock
}

// Component fetches one component_access_token. Safe for concurrent use.
type Component struct {
	c       *upstream.Caller
	appID   string
	ticket  func(ctx context.Context) (platform.StoredVerifyTicket, error)
	after   time.Duration
	every   time.Duration
	clock   clock.PassiveClock
	tokenSh upstream.Shape
	pushSh  upstream.Shape

	mu sync.Mutex // guards the fields below
	// refused is the CreateTime (unix s) of the newest ticket the upstream
	// refused; 0: none.
	refused int64
	// lastStart is when api_start_push_ticket was last called (Clock).
	lastStart time.Time
}

// New validates cfg (no I/O) and returns a Component. Errors are
// *upstream.FieldError.
func New(cfg Config) (*Component, error) {
	if cfg.VerifyTicket == nil {
		return nil, &upstream.FieldError{Provider: provider, Field: "VerifyTicket", Msg: "required"}
	}
	if cfg.StartPushAfter < 0 || cfg.StartPushEvery < 0 {
		return nil, &upstream.FieldError{Provider: provider, Field: "StartPushAfter", Msg: "must not be negative"}
	}
	c, err := upstream.NewCaller(upstream.CallerConfig{
		Provider: provider, DefaultBaseURL: wechat.DefaultBaseURL, BaseURL: cfg.BaseURL,
		HTTPClient: cfg.HTTPClient, MinExpiresIn: cfg.MinExpiresIn,
		Credentials: &upstream.Credentials{IDField: "AppID", ID: cfg.ComponentAppID, Secret: cfg.Secret, SecretFunc: cfg.SecretFunc},
	})
	if err != nil {
		return nil, err
	}
	p := &Component{
		c: c, appID: cfg.ComponentAppID, ticket: cfg.VerifyTicket, after: cfg.StartPushAfter, every: cfg.StartPushEvery,
		clock: cfg.Clock, tokenSh: upstream.ErrcodeShape("component_access_token", Classify),
		pushSh: upstream.ErrcodeShape("", Classify),
	}
	if p.after == 0 {
		p.after = DefaultStartPushAfter
	}
	if p.every == 0 {
		p.every = min(DefaultStartPushEvery, p.after/2)
	}
	if p.clock == nil {
		p.clock = clock.RealClock{}
	}
	return p, nil
}

// Classify maps an Open Platform errcode: ClassInput for 61005 (verify
// ticket expired), 61006 (verify ticket invalid) and 61023 (authorizer
// refresh token invalid: wait for a re-authorization), ClassConfig for 61004
// (caller IP not registered on the platform), and WeChat's token-endpoint
// classes otherwise (wechat.Classify: 45009 quota, ...).
func Classify(code int) upstream.Class {
	switch code {
	case 61005, 61006, CodeNeedsReauthorization:
		return upstream.ClassInput
	case 61004:
		return upstream.ClassConfig
	}
	return wechat.Classify(code)
}

// String describes p without the secret.
func (p *Component) String() string { return "openplatform.Component(" + p.appID + ")" }

// GoString is String, so that %#v never shows the secret.
func (p *Component) GoString() string { return p.String() }

// Repeat is RepeatNew: treated like WeChat's classic token.
func (p *Component) Repeat() upstream.Repeat { return upstream.RepeatNew }

// Ready reports whether a usable verify ticket is stored: one exists, is
// not garbage, and is newer than the last one the upstream refused.
func (p *Component) Ready(ctx context.Context) (upstream.Readiness, error) {
	t, err := p.ticket(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrCorrupt):
		return upstream.Readiness{WaitingFor: WaitingTicket}, nil
	case err != nil:
		return upstream.Readiness{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.CreateTime.Unix() <= p.refused {
		return upstream.Readiness{WaitingFor: WaitingNewTicket}, nil
	}
	return upstream.Readiness{Ready: true}, nil
}

// tokenRequest is the body of api_component_token.
type tokenRequest struct {
	AppID  string `json:"component_appid"`
	Secret string `json:"component_appsecret"`
	Ticket string `json:"component_verify_ticket"`
}

// Fetch calls api_component_token with the verify ticket stored now. With
// none, it fails with ClassInput and makes no call. 61005/61006 mark that
// ticket refused (Ready says no until a newer one is stored).
func (p *Component) Fetch(ctx context.Context, _ upstream.FetchRequest) (upstream.Token, error) {
	t, err := p.ticket(ctx)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrCorrupt) {
			return upstream.Token{}, &upstream.Error{Message: "openplatform: no usable component_verify_ticket stored", Class: upstream.ClassInput}
		}
		return upstream.Token{}, fmt.Errorf("openplatform: read verify ticket: %w", err)
	}
	tok, err := p.c.FetchWithSecret(ctx, func(secret string) upstream.Call {
		return upstream.Call{
			Op: "api_component_token", Method: http.MethodPost, Path: "/cgi-bin/component/api_component_token",
			JSON: tokenRequest{AppID: p.appID, Secret: secret, Ticket: t.Ticket}, Shape: p.tokenSh,
		}
	})
	if upstream.ClassOf(err) == upstream.ClassInput {
		p.mu.Lock()
		p.refused = max(p.refused, t.CreateTime.Unix())
		p.mu.Unlock()
	}
	return tok, err
}

// startRequest is the body of api_start_push_ticket.
type startRequest struct {
	AppID  string `json:"component_appid"`
	Secret string `json:"component_secret"`
}

// Tend calls api_start_push_ticket when no ticket is stored (at once: a
// new deployment or a lost Redis) or the newest is older than
// StartPushAfter, at most once per StartPushEvery (the slot is spent even
// if the call fails). A read error of Redis is returned, no call made.
func (p *Component) Tend(ctx context.Context) error {
	t, err := p.ticket(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrCorrupt):
	case err != nil:
		return fmt.Errorf("openplatform: read verify ticket: %w", err)
	case t.Age() <= p.after:
		return nil
	}
	if !p.reserveStart() {
		return nil
	}
	secret, err := p.c.Secret()
	if err != nil {
		return err
	}
	return p.c.Check(ctx, upstream.Call{
		Op: "api_start_push_ticket", Method: http.MethodPost, Path: "/cgi-bin/component/api_start_push_ticket",
		JSON: startRequest{AppID: p.appID, Secret: secret}, Secret: secret, Shape: p.pushSh,
	})
}

// TendEvery is StartPushAfter/4: a stopped stream is seen within a
// quarter of StartPushAfter after it counts as stopped.
func (p *Component) TendEvery() time.Duration { return p.after / 4 }

// reserveStart takes the start-push slot if StartPushEvery has passed.
func (p *Component) reserveStart() bool {
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.lastStart.IsZero() && now.Sub(p.lastStart) < p.every {
		return false
	}
	p.lastStart = now
	return true
}
