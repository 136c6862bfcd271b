package wechattest

import (
	"net/http"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/openplat"
)

// The authorization page flow (internal/openplat/preauth.go):
// api_create_preauthcode mints a new pre_auth_code per call;
// AuthorizeWithPreAuthCode (hook POST /components/authorize_code) is the
// authorization page and its redirect, without a push.

// PreAuthCodeLifetime is the expires_in of a pre_auth_code.
const PreAuthCodeLifetime = openplat.PreAuthCodeLifetime

// ErrPreAuthCode: the pre_auth_code was never issued, is used or expired.
var ErrPreAuthCode = openplat.ErrPreAuthCode

// preAuthRoutes serves POST /cgi-bin/component/api_create_preauthcode.
func (s *Server) preAuthRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /cgi-bin/component/api_create_preauthcode", s.handleCreatePreAuthCode)
}

// handleCreatePreAuthCode is POST
// /cgi-bin/component/api_create_preauthcode?component_access_token=
// {"component_appid"}.
func (s *Server) handleCreatePreAuthCode(w http.ResponseWriter, r *http.Request) {
	var b struct {
		AppID string `json:"component_appid"`
	}
	s.componentCall(w, r, &b, func() string { return b.AppID }, "", func(set *authorizerSet, now time.Time) (any, int) {
		pre := set.MintPreAuthCode(now)
		return map[string]any{"pre_auth_code": pre, "expires_in": int(PreAuthCodeLifetime / time.Second)}, 0
	})
}

// AuthorizeWithPreAuthCode is an administrator authorizing component for
// authorizer on the page opened with preAuthCode (single use): the
// account is (re)authorized (a new refresh token) and the auth_code of the
// redirect returned, for api_query_auth. No event is pushed.
func (s *Server) AuthorizeWithPreAuthCode(component, preAuthCode, authorizer string) (string, error) {
	return s.open.AuthorizeWithPreAuthCode(component, preAuthCode, authorizer)
}
