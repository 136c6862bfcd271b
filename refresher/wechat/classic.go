package wechat

import (
	"context"

	"github.com/tokend/tokend/refresher/upstream"
)

// Classic fetches tokens from the classic endpoint,
// GET /cgi-bin/token?grant_type=client_credential. Every call makes WeChat
// issue a new token and retire the previous one five minutes later, so only
// one process per account may call it (tokend's leader).
//
// A *Classic is safe for concurrent use; it holds no mutable state.
type Classic struct {
	c client
}

// NewClassic validates cfg and returns a provider for the classic endpoint
// (no I/O); cfg is copied.
func NewClassic(cfg Config) (*Classic, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Classic{c: c}, nil
}

// String describes p without the secret.
func (p *Classic) String() string { return "wechat.Classic(" + p.c.cfg.AppID + ")" }

// GoString is String, so that %#v never shows the secret.
func (p *Classic) GoString() string { return p.String() }

// Fetch asks WeChat for a new token. req is not used: every classic call
// issues a new token anyway. Errors are *upstream.Error for answers
// of the upstream and *TransportError for failed exchanges.
func (p *Classic) Fetch(ctx context.Context, _ upstream.FetchRequest) (upstream.Token, error) {
	return p.c.get(ctx)
}

// Repeat is RepeatNew: every classic call issues a new token, so a fetched
// token is always written as fetched.
func (p *Classic) Repeat() upstream.Repeat { return upstream.RepeatNew }
