package upstream

import "context"

// TokenProvider fetches an app's access token from a token endpoint that
// takes the app's credentials (WeCom gettoken, Feishu
// tenant_access_token, DingTalk gettoken). Each Fetch reads the secret
// anew (Credentials.SecretFunc), so a rotated secret is used at once.
// FetchRequest.Invalid is not used: these upstreams have no force
// refresh. A *TokenProvider holds no mutable state and is safe for
// concurrent use.
type TokenProvider struct {
	c      *Caller
	repeat Repeat
	build  func(id, secret string) Call
}

// NewTokenProvider validates cfg (no I/O; Credentials are required) and
// returns a provider whose Fetch sends build(id, secret) and whose Repeat
// is repeat. Errors are *FieldError.
func NewTokenProvider(cfg CallerConfig, repeat Repeat, build func(id, secret string) Call) (*TokenProvider, error) {
	if cfg.Credentials == nil {
		return nil, &FieldError{Provider: cfg.Provider, Field: "Secret", Msg: "required"}
	}
	c, err := NewCaller(cfg)
	if err != nil {
		return nil, err
	}
	return &TokenProvider{c: c, repeat: repeat, build: build}, nil
}

// Fetch asks the upstream for the app's token. Errors are *Error for
// answers of the upstream (and an empty secret) and *TransportError for
// failed exchanges.
func (p *TokenProvider) Fetch(ctx context.Context, _ FetchRequest) (Token, error) {
	return p.c.FetchWithSecret(ctx, func(secret string) Call { return p.build(p.c.ID(), secret) })
}

// Repeat is the upstream's repeat-fetch semantics, as given to
// NewTokenProvider.
func (p *TokenProvider) Repeat() Repeat { return p.repeat }

// Caller is the Caller tokens are fetched through.
func (p *TokenProvider) Caller() *Caller { return p.c }

// String names the provider and app: "wecom.Provider(corpid)". It never
// shows the secret.
func (p *TokenProvider) String() string { return p.c.provider + ".Provider(" + p.c.ID() + ")" }

// GoString is String, so that %#v never shows the secret.
func (p *TokenProvider) GoString() string { return p.String() }
