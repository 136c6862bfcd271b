package wechattest

import (
	"context"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/openplat"
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
type authorizerSet = openplat.AuthorizerSet

type fakeAuthorizer = openplat.Authorizer

// AuthorizerStats counts what a component's authorizers saw.
type AuthorizerStats = openplat.AuthorizerStats

// authsLocked returns appid's authorizer set, created on first use; nil
// for an unknown component.
func (s *Server) authsLocked(appid string) *authorizerSet { return s.open.AuthsLocked(appid) }

// Authorize authorizes (or re-authorizes) authorizer for component and
// pushes the authorization event with a new authorization code. The error
// is for an unknown component or a bad appid; a failed delivery is in
// Push.Err and Push.Status.
func (s *Server) Authorize(ctx context.Context, component, authorizer string) (Push, error) {
	return s.open.Authorize(ctx, component, authorizer)
}

// Unauthorize revokes authorizer (its refresh token answers 61023) and
// pushes the "unauthorized" event.
func (s *Server) Unauthorize(ctx context.Context, component, authorizer string) (Push, error) {
	return s.open.Unauthorize(ctx, component, authorizer)
}

// RevokeAuthorizer makes authorizer's refresh token invalid (61023)
// without a push: what WeChat does when the account deauthorizes and the
// push is lost. false when it is not authorized.
func (s *Server) RevokeAuthorizer(component, authorizer string) bool {
	return s.open.Revoke(component, authorizer)
}

// AddAuthorizers authorizes n new authorizers named prefix + a number,
// without pushes (they are found with api_get_authorizer_list), and
// returns their appids.
func (s *Server) AddAuthorizers(component, prefix string, n int) ([]string, error) {
	return s.open.AddAuthorizers(component, prefix, n)
}

// AuthorizerRefreshToken is authorizer's valid refresh token ("" when
// revoked or unknown).
func (s *Server) AuthorizerRefreshToken(component, authorizer string) (rt string) {
	s.open.Authorizer(component, authorizer, func(a *fakeAuthorizer) { rt = a.RefreshToken })
	return rt
}

// CurrentAuthorizerToken is authorizer's newest token ("" if none).
func (s *Server) CurrentAuthorizerToken(component, authorizer string) (tok string) {
	s.open.Authorizer(component, authorizer, func(a *fakeAuthorizer) { tok = a.App.Classic })
	return tok
}

// AuthorizerStats returns component's authorizer counters.
func (s *Server) AuthorizerStats(component string) AuthorizerStats {
	return s.open.AuthorizerStats(component)
}
