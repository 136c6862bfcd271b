package wechattest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Open Platform authorizers: the accounts that authorized a component.
// Authorize (re)authorizes one and pushes an "authorized" (or, when it is
// already authorized, "updateauthorized") event with a single-use
// authorization code to the component's callback; each authorization
// issues a new refresh token, so a re-authorization retires the old one
// (61023 from then on). Unauthorize revokes and pushes "unauthorized";
// RevokeAuthorizer revokes without a push. AddAuthorizers authorizes many
// at once without pushes (10,000 cost a map entry each).
//
// api_query_auth, api_authorizer_token and api_get_authorizer_list need a
// valid component_access_token of the component (else 40001/42001/40014
// like any token). An authorizer's tokens follow the classic token's rules
// (a new one per call, the previous one valid for Config.Overlap) and are
// checked by Server.Check like any other.

// Open Platform authorizer errcodes.
const (
	CodeRefreshTokenInvalid = 61023
	CodeAuthCodeInvalid     = 61010
	CodeInvalidArgs         = 40097
)

// authorizerSet is a component's authorizers, guarded by Server.mu.
type authorizerSet struct {
	byID  map[string]*fakeAuthorizer
	order []string          // appids in first-authorization order
	codes map[string]string // authorization code -> appid, single use
	stats AuthorizerStats

	preAuth map[string]time.Time // pre_auth_code -> expiry, single use (preauth.go)
}

type fakeAuthorizer struct {
	app          *app   // its token state (classic rules)
	refreshToken string // the valid one; "" when revoked
	authTime     int64
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

// authsLocked returns appid's authorizer set, created on first use; nil
// for an unknown component.
func (s *Server) authsLocked(appid string) *authorizerSet {
	c := s.comps[appid]
	if c == nil {
		return nil
	}
	if c.auths == nil {
		c.auths = &authorizerSet{byID: map[string]*fakeAuthorizer{}, codes: map[string]string{}}
	}
	return c.auths
}

// grantLocked gives authorizer a new refresh token (and returns
// whether it was already authorized).
func (s *Server) grantLocked(now time.Time, set *authorizerSet, authorizer string) (update bool) {
	a := set.byID[authorizer]
	if a == nil {
		a = &fakeAuthorizer{app: newApp(authorizer, "")}
		set.byID[authorizer] = a
		set.order = append(set.order, authorizer)
	}
	update = a.refreshToken != ""
	if !update {
		set.stats.Authorized++
	}
	a.refreshToken = "refreshtoken@@@" + randomString(36)
	a.authTime = now.Unix()
	return update
}

// Authorize authorizes (or re-authorizes) authorizer for component and
// pushes the authorization event with a new authorization code. The error
// is for an unknown component or a bad appid; a failed delivery is in
// Push.Err and Push.Status.
func (s *Server) Authorize(ctx context.Context, component, authorizer string) (Push, error) {
	if authorizer == "" {
		return Push{}, fmt.Errorf("wechattest: authorizer appid required")
	}
	s.mu.Lock()
	set := s.authsLocked(component)
	if set == nil {
		s.mu.Unlock()
		return Push{}, ErrUnknownComponent
	}
	now := s.now()
	info := "authorized"
	if s.grantLocked(now, set, authorizer) {
		info = "updateauthorized"
	}
	code := "queryauthcode@@@" + randomString(36)
	set.codes[code] = authorizer
	s.mu.Unlock()
	msg := fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%d</CreateTime><InfoType><![CDATA[%s]]></InfoType>"+
		"<AuthorizerAppid><![CDATA[%s]]></AuthorizerAppid><AuthorizationCode><![CDATA[%s]]></AuthorizationCode>"+
		"<AuthorizationCodeExpiredTime>%d</AuthorizationCodeExpiredTime><PreAuthCode><![CDATA[preauthcode@@@%s]]></PreAuthCode></xml>",
		component, now.Unix(), info, authorizer, code, now.Add(time.Hour).Unix(), randomString(12))
	p, err := s.pushEvent(ctx, component, now, msg)
	p.AuthorizationCode = code
	return p, err
}

// Unauthorize revokes authorizer (its refresh token answers 61023) and
// pushes the "unauthorized" event.
func (s *Server) Unauthorize(ctx context.Context, component, authorizer string) (Push, error) {
	if !s.RevokeAuthorizer(component, authorizer) {
		return Push{}, fmt.Errorf("wechattest: %s has no authorizer %s", component, authorizer)
	}
	now := s.cfg.Clock.Now()
	msg := fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%d</CreateTime><InfoType><![CDATA[unauthorized]]></InfoType>"+
		"<AuthorizerAppid><![CDATA[%s]]></AuthorizerAppid></xml>", component, now.Unix(), authorizer)
	return s.pushEvent(ctx, component, now, msg)
}

// pushEvent sends an authorization event to one of component's callbacks.
func (s *Server) pushEvent(ctx context.Context, component string, now time.Time, msg string) (Push, error) {
	s.mu.Lock()
	c := s.comps[component]
	if c == nil {
		s.mu.Unlock()
		return Push{}, ErrUnknownComponent
	}
	p := Push{CreateTime: now.Unix(), URL: c.cfg.CallbackURLs[rand.N(len(c.cfg.CallbackURLs))]}
	crypt := c.crypt
	s.mu.Unlock()
	p, err := s.sealAndDeliver(ctx, component, crypt, p, msg, false)
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.authsLocked(component); set != nil && err == nil {
		set.stats.EventsPushed++
		if p.Status != 200 || p.Body != "success" {
			set.stats.EventsRefused++
		}
	}
	return p, err
}

// RevokeAuthorizer makes authorizer's refresh token invalid (61023)
// without a push: what WeChat does when the account deauthorizes and the
// push is lost. false when it is not authorized.
func (s *Server) RevokeAuthorizer(component, authorizer string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.authsLocked(component)
	if set == nil || set.byID[authorizer] == nil || set.byID[authorizer].refreshToken == "" {
		return false
	}
	set.byID[authorizer].refreshToken = ""
	set.stats.Authorized--
	return true
}

// AddAuthorizers authorizes n new authorizers named prefix + a number,
// without pushes (they are found with api_get_authorizer_list), and
// returns their appids.
func (s *Server) AddAuthorizers(component, prefix string, n int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.authsLocked(component)
	if set == nil {
		return nil, ErrUnknownComponent
	}
	now := s.now()
	ids := make([]string, 0, n)
	for i := range n {
		id := fmt.Sprintf("%s%06d", prefix, len(set.order)+i)
		ids = append(ids, id)
	}
	for _, id := range ids {
		s.grantLocked(now, set, id)
	}
	return ids, nil
}

// AuthorizerRefreshToken is authorizer's valid refresh token ("" when
// revoked or unknown).
func (s *Server) AuthorizerRefreshToken(component, authorizer string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.authsLocked(component); set != nil && set.byID[authorizer] != nil {
		return set.byID[authorizer].refreshToken
	}
	return ""
}

// CurrentAuthorizerToken is authorizer's newest token ("" if none).
func (s *Server) CurrentAuthorizerToken(component, authorizer string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.authsLocked(component); set != nil && set.byID[authorizer] != nil {
		return set.byID[authorizer].app.classic
	}
	return ""
}

// AuthorizerStats returns component's authorizer counters.
func (s *Server) AuthorizerStats(component string) AuthorizerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.authsLocked(component); set != nil {
		return set.stats
	}
	return AuthorizerStats{}
}
