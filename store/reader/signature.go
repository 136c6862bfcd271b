package reader

import (
	"context"
	"fmt"
	"time"

	"github.com/tokend/tokend/store/jssdk"
)

// Signature signs pageURL for a JS-SDK config (wx.config, or WeCom's
// wx.agentConfig with kind agent_config) with app's ticket of kind ("":
// jsapi), read like any credential: Token(ctx, app+":"+kind), from memory
// once cached. The result holds the timestamp (unix seconds, on
// Config.Clock), a fresh nonce, the signature and the signed URL (pageURL
// up to its first '#'); never the ticket. pageURL must be the page's
// location.href, byte for byte (see package jssdk).
//
// Errors: a *jssdk.URLError for a URL that is not absolute http(s) or is
// longer than 2 KiB (checked before anything is read), an error for a kind
// other than jsapi or agent_config, and Token's errors for the ticket
// (ErrNoToken: no valid ticket to be had).
func (r *Reader) Signature(ctx context.Context, app, kind, pageURL string) (jssdk.Signature, error) {
	if kind == "" {
		kind = "jsapi"
	}
	if !jssdk.ConfigKind(kind) {
		return jssdk.Signature{}, fmt.Errorf("reader: kind %q has no JS-SDK config signature: want jsapi or agent_config", kind)
	}
	if err := jssdk.CheckURL(pageURL); err != nil {
		return jssdk.Signature{}, err
	}
	tok, err := r.Token(ctx, app+":"+kind)
	if err != nil {
		return jssdk.Signature{}, err
	}
	return jssdk.New(tok.Value, pageURL, r.wallClock().Unix())
}

// wallClock is the time of day on Config.Clock (the real clock by
// default).
func (r *Reader) wallClock() time.Time {
	if r.clock == nil {
		return time.Now()
	}
	return r.clock.Now()
}
