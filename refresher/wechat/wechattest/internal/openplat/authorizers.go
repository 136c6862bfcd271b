package openplat

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

// AuthorizerSet is a component's authorizers, guarded by the Registry's
// lock.
type AuthorizerSet struct {
	ByID  map[string]*Authorizer
	Order []string          // appids in first-authorization order
	Codes map[string]string // authorization code -> appid, single use
	Stats AuthorizerStats

	PreAuth map[string]time.Time // pre_auth_code -> expiry, single use (preauth.go)
}

// Authorizer is an account that authorized a component.
type Authorizer struct {
	App          *ledger.Account // its token state (classic rules)
	RefreshToken string          // the valid one; "" when revoked
	AuthTime     int64
}

// AuthorizerStats counts what a component's authorizers saw.
type AuthorizerStats struct {
	Authorized    int `json:"authorized"`     // authorizers with a valid refresh token
	QueryAuth     int `json:"query_auth"`     // api_query_auth answered with a token
	TokenFetches  int `json:"token_fetches"`  // api_authorizer_token answered with a token
	Refused61023  int `json:"refused_61023"`  // api_authorizer_token answered 61023
	ListCalls     int `json:"list_calls"`     // api_get_authorizer_list answered
	EventsPushed  int `json:"events_pushed"`  // authorization events pushed
	EventsRefused int `json:"events_refused"` // authorization events not answered "success"
	PreAuthCodes  int `json:"pre_auth_codes"` // api_create_preauthcode answered with a code
}

// AuthsLocked returns appid's authorizer set, created on first use; nil
// for an unknown component.
func (g *Registry) AuthsLocked(appid string) *AuthorizerSet {
	c := g.comps[appid]
	if c == nil {
		return nil
	}
	if c.Auths == nil {
		c.Auths = &AuthorizerSet{ByID: map[string]*Authorizer{}, Codes: map[string]string{}}
	}
	return c.Auths
}

// grant gives authorizer a new refresh token (and returns whether it was
// already authorized).
func (set *AuthorizerSet) grant(now time.Time, authorizer string) (update bool) {
	a := set.ByID[authorizer]
	if a == nil {
		a = &Authorizer{App: ledger.NewAccount(authorizer, "")}
		set.ByID[authorizer] = a
		set.Order = append(set.Order, authorizer)
	}
	update = a.RefreshToken != ""
	if !update {
		set.Stats.Authorized++
	}
	a.RefreshToken = "refreshtoken@@@" + ledger.RandomString(36)
	a.AuthTime = now.Unix()
	return update
}

// Authorize authorizes (or re-authorizes) authorizer for component and
// pushes the authorization event with a new authorization code.
func (g *Registry) Authorize(ctx context.Context, component, authorizer string) (Push, error) {
	if authorizer == "" {
		return Push{}, fmt.Errorf("wechattest: authorizer appid required")
	}
	g.mu.Lock()
	set := g.AuthsLocked(component)
	if set == nil {
		g.mu.Unlock()
		return Push{}, ErrUnknownComponent
	}
	now := g.now()
	info := "authorized"
	if set.grant(now, authorizer) {
		info = "updateauthorized"
	}
	code := "queryauthcode@@@" + ledger.RandomString(36)
	set.Codes[code] = authorizer
	g.mu.Unlock()
	msg := fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%d</CreateTime><InfoType><![CDATA[%s]]></InfoType>"+
		"<AuthorizerAppid><![CDATA[%s]]></AuthorizerAppid><AuthorizationCode><![CDATA[%s]]></AuthorizationCode>"+
		"<AuthorizationCodeExpiredTime>%d</AuthorizationCodeExpiredTime><PreAuthCode><![CDATA[preauthcode@@@%s]]></PreAuthCode></xml>",
		component, now.Unix(), info, authorizer, code, now.Add(time.Hour).Unix(), ledger.RandomString(12))
	p, err := g.pushEvent(ctx, component, now, msg)
	p.AuthorizationCode = code
	return p, err
}

// Unauthorize revokes authorizer and pushes the "unauthorized" event.
func (g *Registry) Unauthorize(ctx context.Context, component, authorizer string) (Push, error) {
	if !g.Revoke(component, authorizer) {
		return Push{}, fmt.Errorf("wechattest: %s has no authorizer %s", component, authorizer)
	}
	now := g.now()
	msg := fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%d</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType>"+
		"<AuthorizerAppid><![CDATA[%s]]></AuthorizerAppid></xml>", component, now.Unix(), authorizer)
	return g.pushEvent(ctx, component, now, msg)
}

// pushEvent sends an authorization event to one of component's callbacks.
func (g *Registry) pushEvent(ctx context.Context, component string, now time.Time, msg string) (Push, error) {
	g.mu.Lock()
	c := g.comps[component]
	if c == nil {
		g.mu.Unlock()
		return Push{}, ErrUnknownComponent
	}
	p := Push{CreateTime: now.Unix(), URL: c.Cfg.CallbackURLs[rand.N(len(c.Cfg.CallbackURLs))]}
	crypt := c.crypt
	g.mu.Unlock()
	p, err := g.sealAndDeliver(ctx, component, crypt, p, msg, false)
	g.mu.Lock()
	defer g.mu.Unlock()
	if set := g.AuthsLocked(component); set != nil && err == nil {
		set.Stats.EventsPushed++
		if p.Status != 200 || p.Body != "success" {
			set.Stats.EventsRefused++
		}
	}
	return p, err
}

// Revoke makes authorizer's refresh token invalid (61023) without a push;
// false when it is not authorized.
func (g *Registry) Revoke(component, authorizer string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	set := g.AuthsLocked(component)
	if set == nil || set.ByID[authorizer] == nil || set.ByID[authorizer].RefreshToken == "" {
		return false
	}
	set.ByID[authorizer].RefreshToken = ""
	set.Stats.Authorized--
	return true
}

// AddAuthorizers authorizes n new authorizers named prefix + a number,
// without pushes, and returns their appids.
func (g *Registry) AddAuthorizers(component, prefix string, n int) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	set := g.AuthsLocked(component)
	if set == nil {
		return nil, ErrUnknownComponent
	}
	now := g.now()
	ids := make([]string, 0, n)
	for i := range n {
		id := fmt.Sprintf("%s%06d", prefix, len(set.Order)+i)
		ids = append(ids, id)
	}
	for _, id := range ids {
		set.grant(now, id)
	}
	return ids, nil
}

// Authorizer calls f with authorizer of component under the lock, if
// both exist.
func (g *Registry) Authorizer(component, authorizer string, f func(a *Authorizer)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if set := g.AuthsLocked(component); set != nil && set.ByID[authorizer] != nil {
		f(set.ByID[authorizer])
	}
}

// AuthorizerStats returns component's authorizer counters.
func (g *Registry) AuthorizerStats(component string) AuthorizerStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	if set := g.AuthsLocked(component); set != nil {
		return set.Stats
	}
	return AuthorizerStats{}
}
