package wechattest

import (
	"errors"
	"net/http"
	"time"
)

// The authorization page flow: the platform mints a pre_auth_code
// (api_create_preauthcode, a new one per call), sends the account's
// administrator to WeChat's authorization page with it, and WeChat
// redirects back with an auth_code (and pushes "authorized"), which the
// platform exchanges with api_query_auth. AuthorizeWithPreAuthCode is the
// page and the redirect without the push: it consumes the pre_auth_code,
// (re)authorizes the account and returns the auth_code.

// PreAuthCodeLifetime is the expires_in of a pre_auth_code (UPSTREAM.md:
// 1800 s in WeChat's text, 600 s in its example).
const PreAuthCodeLifetime = 1800 * time.Second

// ErrPreAuthCode: the pre_auth_code was never issued, is used or expired.
var ErrPreAuthCode = errors.New("wechattest: pre_auth_code unknown, used or expired")

// preAuthRoutes serves api_create_preauthcode and the authorization page
// hook:
//
//	POST /cgi-bin/component/api_create_preauthcode?component_access_token=T {"component_appid"}
//	POST /components/authorize_code?appid=C&authorizer=A&pre_auth_code=P   AuthorizeWithPreAuthCode:
//	     {"auth_code","expires_in"}; a bad pre_auth_code: errcode 40097
func (s *Server) preAuthRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /cgi-bin/component/api_create_preauthcode", s.handleCreatePreAuthCode)
	mux.HandleFunc("POST /components/authorize_code", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code, err := s.AuthorizeWithPreAuthCode(q.Get("appid"), q.Get("pre_auth_code"), q.Get("authorizer"))
		if err != nil {
			s.invalid(w, "%v", err)
			return
		}
		s.writeJSON(w, http.StatusOK, okBody(map[string]any{"auth_code": code, "expires_in": 3600}))
	})
}

// handleCreatePreAuthCode is POST /cgi-bin/component/api_create_preauthcode.
func (s *Server) handleCreatePreAuthCode(w http.ResponseWriter, r *http.Request) {
	var b struct {
		AppID string `json:"component_appid"`
	}
	set, now, code, ok := s.beginComponentCall(w, r, &b, func() string { return b.AppID })
	if !ok {
		return
	}
	pre := ""
	if code == 0 {
		if set.preAuth == nil {
			set.preAuth = map[string]time.Time{}
		}
		for c, exp := range set.preAuth { // bounded: expired codes go
			if !now.Before(exp) {
				delete(set.preAuth, c)
			}
		}
		pre = "preauthcode@@@" + randomString(40)
		set.preAuth[pre] = now.Add(PreAuthCodeLifetime)
		set.stats.PreAuthCodes++
	}
	s.mu.Unlock()
	if code != 0 {
		s.writeError(w, http.StatusOK, code, "")
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"pre_auth_code": pre, "expires_in": int(PreAuthCodeLifetime / time.Second)})
}

// AuthorizeWithPreAuthCode is an administrator authorizing component for
// authorizer on the page opened with preAuthCode (single use): the
// account is (re)authorized (a new refresh token) and the auth_code of the
// redirect returned, for api_query_auth. No event is pushed.
func (s *Server) AuthorizeWithPreAuthCode(component, preAuthCode, authorizer string) (string, error) {
	if authorizer == "" {
		return "", errors.New("wechattest: authorizer appid required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.authsLocked(component)
	if set == nil {
		return "", ErrUnknownComponent
	}
	now := s.now()
	exp, ok := set.preAuth[preAuthCode]
	delete(set.preAuth, preAuthCode)
	if !ok || !now.Before(exp) {
		return "", ErrPreAuthCode
	}
	s.grantLocked(now, set, authorizer)
	code := "queryauthcode@@@" + randomString(36)
	set.codes[code] = authorizer
	return code, nil
}
