// Package openplat keeps the Open Platform (第三方平台) part of the fake
// upstream (package wechattest): components, the verify tickets pushed to
// them, the encrypted pushes themselves (verify tickets and authorization
// events, sealed with msgcrypt and POSTed to a callback URL), automatic
// pushes, and each component's authorizers with their refresh tokens and
// single-use authorization codes.
//
// A Registry's state is guarded by the Locker given to New (the Server's
// mutex, which also guards the ledger the component and authorizer tokens
// are in). Methods whose name ends in Locked expect it held; the others
// take it, and never hold it during a push's HTTP request. Answering the
// Open Platform's HTTP API is not done here: wechattest's handlers read
// and update the state under the lock.
package openplat

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/tokend/tokend/refresher/wechat/msgcrypt"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

// Component registers an Open Platform third-party platform.
type Component struct {
	AppID, Secret string
	// Token and EncodingAESKey encrypt and sign the pushes.
	Token, EncodingAESKey string
	// CallbackURLs receive the pushes, one picked at random per push.
	CallbackURLs []string
	// PushEvery is the interval of automatic pushes (real time: they are
	// HTTP requests); 0: pushes only by PushTicket.
	PushEvery time.Duration
	// TicketLifetime is a verify ticket's validity (Config.Clock).
	// Default 12 h.
	TicketLifetime time.Duration
}

// Push is one push sent to a callback.
type Push struct {
	Ticket string
	// AuthorizationCode is what an authorized or updateauthorized event
	// carried ("" for other pushes).
	AuthorizationCode string
	CreateTime        int64
	URL               string
	// Status and Body are the callback's answer (0 and "" when the request
	// failed: Err says why).
	Status int
	Body   string
	Err    string
	// request is what was sent, for a replay.
	request pushRequest
}

type pushRequest struct {
	query url.Values
	body  []byte
}

// ComponentStats counts what a component's fake saw and did.
type ComponentStats struct {
	Pushes        int  `json:"pushes"`         // pushes answered "success"
	PushFailures  int  `json:"push_failures"`  // pushes not answered "success"
	TokenFetches  int  `json:"token_fetches"`  // api_component_token answered with a token
	TicketRefused int  `json:"ticket_refused"` // api_component_token answered 61005/61006
	StartPush     int  `json:"start_push"`     // api_start_push_ticket calls answered ok
	Pushing       bool `json:"pushing"`        // automatic pushes running
}

// State is the state of one Component, guarded by the Registry's lock.
type State struct {
	Cfg     Component
	App     *ledger.Account      // the classic-token state of the component token
	Tickets map[string]time.Time // verify ticket -> expiry
	Auths   *AuthorizerSet       // its authorizers; nil: none yet
	Stats   ComponentStats
	crypt   *msgcrypt.Crypt
	sent    []Push        // the last maxSent pushes, oldest first
	stop    chan struct{} // closed to stop automatic pushes; nil when none run
}

const maxSent = 32

// ErrUnknownComponent: no component with that appid.
var ErrUnknownComponent = errors.New("wechattest: unknown component")

// Registry is the components by appid. See the package comment for its
// locking.
type Registry struct {
	mu sync.Locker
	// now tells the time (the fake's clock).
	now func() time.Time
	// closing returns a context cancelled when the fake closes.
	closing func() (context.Context, context.CancelFunc)
	comps   map[string]*State
}

// New returns an empty registry guarded by mu; now tells the time and
// closing returns a context cancelled when the fake closes (automatic
// pushes end then).
func New(mu sync.Locker, now func() time.Time, closing func() (context.Context, context.CancelFunc)) *Registry {
	return &Registry{mu: mu, now: now, closing: closing, comps: make(map[string]*State)}
}

// Locked returns the component appid, or nil.
func (g *Registry) Locked(appid string) *State { return g.comps[appid] }

// Add registers c (replacing one with the same AppID) and starts its
// automatic pushes if PushEvery > 0.
func (g *Registry) Add(c Component) error {
	cr, err := msgcrypt.New(msgcrypt.Config{Token: c.Token, EncodingAESKey: c.EncodingAESKey, AppID: c.AppID})
	if err != nil {
		return fmt.Errorf("wechattest: component %s: %w", c.AppID, err)
	}
	if c.TicketLifetime <= 0 {
		c.TicketLifetime = 12 * time.Hour
	}
	c.CallbackURLs = append([]string(nil), c.CallbackURLs...)
	g.StopPushes(c.AppID)
	g.mu.Lock()
	g.comps[c.AppID] = &State{Cfg: c, crypt: cr, App: ledger.NewAccount(c.AppID, c.Secret), Tickets: map[string]time.Time{}}
	g.mu.Unlock()
	if c.PushEvery > 0 {
		g.StartPushes(c.AppID)
	}
	return nil
}

// with calls f with the component appid under the lock, if it exists.
func (g *Registry) with(appid string, f func(c *State)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.comps[appid]; c != nil {
		f(c)
	}
}

// StartPushes starts automatic pushes of appid every PushEvery (no-op if
// they run, or PushEvery is 0). They end with StopPushes or when the fake
// closes.
func (g *Registry) StartPushes(appid string) {
	g.mu.Lock()
	c := g.comps[appid]
	if c == nil || c.stop != nil || c.Cfg.PushEvery <= 0 {
		g.mu.Unlock()
		return
	}
	stop := make(chan struct{})
	c.stop, c.Stats.Pushing = stop, true
	every := c.Cfg.PushEvery
	g.mu.Unlock()
	go func() {
		ctx, cancel := g.closing()
		defer cancel()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				_, _ = g.PushTicket(ctx, appid)
			}
		}
	}()
}

// StopPushes stops appid's automatic pushes.
func (g *Registry) StopPushes(appid string) {
	g.with(appid, func(c *State) {
		if c.stop != nil {
			close(c.stop)
			c.stop, c.Stats.Pushing = nil, false
		}
	})
}

// ExpireVerifyTickets makes every verify ticket issued to appid so far
// answer 61005.
func (g *Registry) ExpireVerifyTickets(appid string) {
	g.with(appid, func(c *State) {
		for t := range c.Tickets {
			c.Tickets[t] = time.Time{}
		}
	})
}

// Stats returns appid's counters (zero for an unknown one).
func (g *Registry) Stats(appid string) (st ComponentStats) {
	g.with(appid, func(c *State) { st = c.Stats })
	return st
}

// CurrentToken is the newest component_access_token of appid ("" if
// none).
func (g *Registry) CurrentToken(appid string) (tok string) {
	g.with(appid, func(c *State) { tok = c.App.Classic })
	return tok
}
