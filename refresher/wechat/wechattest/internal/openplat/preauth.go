package openplat

import (
	"errors"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

// The authorization page flow: the platform mints a pre_auth_code
// (api_create_preauthcode, a new one per call), sends the account's
// administrator to WeChat's authorization page with it, and WeChat
// redirects back with an auth_code (and pushes "authorized"), which the
// platform exchanges with api_query_auth. AuthorizeWithPreAuthCode is the
// page and the redirect without the push.

// PreAuthCodeLifetime is the expires_in of a pre_auth_code (UPSTREAM.md:
// 1800 s in WeChat's text, 600 s in its example).
const PreAuthCodeLifetime = 1800 * time.Second

// ErrPreAuthCode: the pre_auth_code was never issued, is used or expired.
var ErrPreAuthCode = errors.New("wechattest: pre_auth_code unknown, used or expired")

// MintPreAuthCode issues a new pre_auth_code, valid PreAuthCodeLifetime
// from now, dropping expired ones. The caller holds the Registry's lock.
func (set *AuthorizerSet) MintPreAuthCode(now time.Time) string {
	if set.PreAuth == nil {
		set.PreAuth = map[string]time.Time{}
	}
	for c, exp := range set.PreAuth {
		if !now.Before(exp) {
			delete(set.PreAuth, c)
		}
	}
	pre := "preauthcode@@@" + ledger.RandomString(40)
	set.PreAuth[pre] = now.Add(PreAuthCodeLifetime)
	set.Stats.PreAuthCodes++
	return pre
}

// AuthorizeWithPreAuthCode is an administrator authorizing component for
// authorizer on the page opened with preAuthCode (single use): the
// account is (re)authorized (a new refresh token) and the auth_code of the
// redirect returned, for api_query_auth. No event is pushed.
func (g *Registry) AuthorizeWithPreAuthCode(component, preAuthCode, authorizer string) (string, error) {
	if authorizer == "" {
		return "", errors.New("wechattest: authorizer appid required")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	set := g.AuthsLocked(component)
	if set == nil {
		return "", ErrUnknownComponent
	}
	now := g.now()
	exp, ok := set.PreAuth[preAuthCode]
	delete(set.PreAuth, preAuthCode)
	if !ok || !now.Before(exp) {
		return "", ErrPreAuthCode
	}
	set.grant(now, authorizer)
	code := "queryauthcode@@@" + ledger.RandomString(36)
	set.Codes[code] = authorizer
	return code, nil
}
