package upstream

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// TicketConfig configures a ticket provider, whose calls are made with the
// parent access token (FetchRequest.ParentToken) and no secret. The zero
// value of each optional field means its default.
type TicketConfig struct {
	// Kind is the ticket kind: one of the provider's TicketKinds. Required.
	Kind string
	// BaseURL is the API origin. Default: the provider's DefaultBaseURL.
	BaseURL string
	// HTTPClient sends the requests; default as CallerConfig.HTTPClient.
	HTTPClient *http.Client
	// MinExpiresIn is the shortest expires_in accepted; default as
	// CallerConfig.MinExpiresIn.
	MinExpiresIn time.Duration
}

// Ticket fetches a ticket (a JS-SDK jsapi_ticket and its kin) with the
// parent access token of the FetchRequest. The token goes into the
// access_token query parameter and is redacted from every error; an empty
// ParentToken fails with a ClassRetry error without a call. Tickets are
// returned unchanged until they expire, so Repeat is RepeatSameFirstSeen.
// A *Ticket holds no mutable state and is safe for concurrent use.
type Ticket struct {
	w withToken
}

// TicketKind is one ticket kind of a provider and the call that fetches
// it.
type TicketKind struct {
	Kind string // "jsapi"
	Call Call
}

// KindNames lists the names of kinds, in order.
func KindNames(kinds []TicketKind) []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Kind
	}
	return names
}

// NewTicket validates cfg for provider (no I/O) and returns the ticket
// provider of cfg.Kind, one of kinds. Errors are *FieldError.
func NewTicket(provider, defaultBaseURL string, cfg TicketConfig, kinds []TicketKind) (*Ticket, error) {
	var call *Call
	for i := range kinds {
		if kinds[i].Kind == cfg.Kind {
			call = &kinds[i].Call
		}
	}
	if call == nil {
		return nil, &FieldError{Provider: provider, Field: "Kind", Msg: "want one of " + strings.Join(KindNames(kinds), ", ")}
	}
	c, err := NewCaller(CallerConfig{
		Provider:       provider,
		DefaultBaseURL: defaultBaseURL,
		BaseURL:        cfg.BaseURL,
		HTTPClient:     cfg.HTTPClient,
		MinExpiresIn:   cfg.MinExpiresIn,
	})
	if err != nil {
		return nil, err
	}
	return &Ticket{w: newWithToken(provider+".Ticket("+cfg.Kind+")", c, *call)}, nil
}

// Fetch asks for the ticket with req.ParentToken. req.Invalid is not
// used: a ticket is fetched again anyway. A token the upstream refuses is
// a ClassTokenRejected *Error when the provider's Classify says so, so
// the refresher reports the parent.
func (t *Ticket) Fetch(ctx context.Context, req FetchRequest) (Token, error) {
	return t.w.c.Fetch(ctx, t.w.with(req.ParentToken))
}

// Repeat is RepeatSameFirstSeen: a repeat call returns the same ticket
// with a fresh expires_in, which must not extend the first-seen expiry.
func (t *Ticket) Repeat() Repeat { return RepeatSameFirstSeen }

// Caller is the Caller the ticket is fetched through.
func (t *Ticket) Caller() *Caller { return t.w.c }

// String names the provider and kind: "wechat.Ticket(jsapi)".
func (t *Ticket) String() string { return t.w.name }

// GoString is String.
func (t *Ticket) GoString() string { return t.String() }

// TokenProber checks an access token with a cheap authenticated call. It
// implements Prober, holds no mutable state and is safe for concurrent
// use.
type TokenProber struct {
	w withToken
}

// NewTokenProber returns a prober that sends call through c with the
// token to check; name is its String.
func NewTokenProber(name string, c *Caller, call Call) *TokenProber {
	return &TokenProber{w: newWithToken(name, c, call)}
}

// Probe returns nil when the upstream accepted token (a zero or missing
// code), an *Error classified by the call's Shape when it answered a code
// (ClassTokenRejected for a refused token), and any other error when the
// probe itself failed. An empty token fails without a call.
func (p *TokenProber) Probe(ctx context.Context, token string) error {
	return p.w.c.Check(ctx, p.w.with(token))
}

// Caller is the Caller the probe is sent through.
func (p *TokenProber) Caller() *Caller { return p.w.c }

// String names the prober; it never shows a token.
func (p *TokenProber) String() string { return p.w.name }

// GoString is String, so that %#v never shows the secret.
func (p *TokenProber) GoString() string { return p.String() }

// withToken is a call made with an access token, ready to send.
type withToken struct {
	name string
	c    *Caller
	call Call
}

func newWithToken(name string, c *Caller, call Call) withToken {
	call.RequireToken = true
	return withToken{name: name, c: c, call: call}
}

// with returns the call carrying token.
func (w withToken) with(token string) Call {
	call := w.call
	call.AccessToken = token
	return call
}
