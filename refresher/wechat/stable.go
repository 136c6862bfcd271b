package wechat

import (
	"context"
	"sync"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
)

// WeChat's limits on force_refresh calls of the stable endpoint.
const (
	// ForceDailyLimit is the number of force refreshes allowed per day
	// (days counted in China Standard Time, UTC+8).
	ForceDailyLimit = 20
	// ForceInterval is the shortest time between two force refreshes.
	ForceInterval = 30 * time.Second
)

// chinaTime is UTC+8, the time zone WeChat counts days in.
var chinaTime = time.FixedZone("UTC+8", 8*60*60)

// Stable fetches tokens from the stable endpoint, POST /cgi-bin/stable_token.
// In normal mode WeChat returns the same token while it is valid (and a new
// one in its last five minutes), so several callers do not invalidate each
// other. Fetch uses force_refresh only for a passive refresh whose reported
// token WeChat still returns, within WeChat's limits tracked locally.
//
// A *Stable is safe for concurrent use.
type Stable struct {
	c client

	mu         sync.Mutex // guards the fields below
	forceDay   string     // date (UTC+8) forceCount counts for, "2006-01-02"
	forceCount int        // force refreshes started on forceDay
	lastForce  time.Time  // start of the last force refresh; zero if none
}

// NewStable validates cfg and returns a provider for the stable endpoint
// (no I/O); cfg is copied.
func NewStable(cfg Config) (*Stable, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Stable{c: c}, nil
}

// String describes p without the secret.
func (p *Stable) String() string { return "wechat.Stable(" + p.c.cfg.AppID + ")" }

// GoString is String, so that %#v never shows the secret.
func (p *Stable) GoString() string { return p.String() }

// Fetch asks for the current stable token in normal mode. If req.Invalid is
// set and WeChat returned exactly that token, Fetch calls again with
// force_refresh, unless that would break the limits (ForceDailyLimit a day,
// ForceInterval apart): then it returns the normal-mode token and no error,
// and the caller sees that the token did not change.
//
// Errors are *upstream.Error for answers of the upstream and
// *TransportError for failed exchanges; the error of the forced call is
// returned as is.
func (p *Stable) Fetch(ctx context.Context, req upstream.FetchRequest) (upstream.Token, error) {
	tok, err := p.c.post(ctx, false)
	if err != nil || req.Invalid == "" || tok.Value != req.Invalid {
		return tok, err
	}
	if !p.reserveForce() {
		return tok, nil
	}
	return p.c.post(ctx, true)
}

// reserveForce records a force refresh now if the limits allow one. A
// reserved slot is spent even if the call then fails: WeChat counts calls.
func (p *Stable) reserveForce() bool {
	now := p.c.cfg.Clock.Now()
	day := now.In(chinaTime).Format(time.DateOnly)
	p.mu.Lock()
	defer p.mu.Unlock()
	if day != p.forceDay {
		p.forceDay, p.forceCount = day, 0
	}
	if p.forceCount >= ForceDailyLimit {
		return false
	}
	if !p.lastForce.IsZero() && now.Sub(p.lastForce) < ForceInterval {
		return false
	}
	p.forceCount++
	p.lastForce = now
	return true
}

// Repeat is RepeatSameTrusted: in normal mode WeChat returns the same
// token while it is valid, and expires_in is its true remaining life.
func (p *Stable) Repeat() upstream.Repeat { return upstream.RepeatSameTrusted }
