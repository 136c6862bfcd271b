package wechattest

import (
	"net/http"
	"strconv"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
)

// authorizerRoutes serves the Open Platform's authorizer endpoints (the
// hooks are in internal/hooks).
func (s *Server) authorizerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /cgi-bin/component/api_query_auth", s.handleQueryAuth)
	mux.HandleFunc("POST /cgi-bin/component/api_authorizer_token", s.handleAuthorizerToken)
	mux.HandleFunc("POST /cgi-bin/component/api_get_authorizer_list", s.handleAuthorizerList)
}

// componentCallLocked checks a call made with a component token: the
// component's authorizer set and the component, or the errcode.
func (s *Server) componentCallLocked(now time.Time, r *http.Request, appid string) (*authorizerSet, int) {
	tok := r.URL.Query().Get("component_access_token")
	if code := s.checkLocked(now, tok); code != CodeOK {
		return nil, code
	}
	if t, _ := s.books.Token(tok); t == nil || t.Owner != appid {
		return nil, CodeIllegal
	}
	set := s.authsLocked(appid)
	if set == nil {
		return nil, 40013
	}
	return set, 0
}

// beginComponentCall decodes the JSON body into b (false after answering
// 47001) and, holding s.mu (the caller unlocks), checks the component
// token of the component appid names: its authorizers or an errcode.
func (s *Server) beginComponentCall(w http.ResponseWriter, r *http.Request, b any, appid func() string) (set *authorizerSet, now time.Time, code int, ok bool) {
	if err := envelope.Decode(r, b); err != nil {
		s.writeError(w, http.StatusOK, 47001, "")
		return nil, time.Time{}, 0, false
	}
	s.mu.Lock()
	now = s.now()
	set, code = s.componentCallLocked(now, r, appid())
	return set, now, code, true
}

// handleQueryAuth is POST /cgi-bin/component/api_query_auth.
func (s *Server) handleQueryAuth(w http.ResponseWriter, r *http.Request) {
	var b struct {
		AppID string `json:"component_appid"`
		Code  string `json:"authorization_code"`
	}
	set, now, code, ok := s.beginComponentCall(w, r, &b, func() string { return b.AppID })
	if !ok {
		return
	}
	var a *fakeAuthorizer
	id := ""
	if code == 0 {
		id = set.Codes[b.Code]
		if a = set.ByID[id]; a == nil || a.RefreshToken == "" {
			code = CodeAuthCodeInvalid
		}
		delete(set.Codes, b.Code)
	}
	var tok string
	var exp int
	if code == 0 {
		tok, exp = s.classicLocked(now, a.App)
		set.Stats.QueryAuth++
		s.countFetchLocked(id, "query_auth")
	}
	rt := ""
	if a != nil {
		rt = a.RefreshToken
	}
	s.mu.Unlock()
	if code != 0 {
		s.writeError(w, http.StatusOK, code, "")
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"authorization_info": map[string]any{
		"authorizer_appid": id, "authorizer_access_token": tok, "expires_in": exp, "authorizer_refresh_token": rt,
		"func_info": []map[string]any{{"funcscope_category": map[string]int{"id": 1}}},
	}})
}

// handleAuthorizerToken is POST /cgi-bin/component/api_authorizer_token.
func (s *Server) handleAuthorizerToken(w http.ResponseWriter, r *http.Request) {
	var b struct {
		AppID        string `json:"component_appid"`
		Authorizer   string `json:"authorizer_appid"`
		RefreshToken string `json:"authorizer_refresh_token"`
	}
	set, now, code, ok := s.beginComponentCall(w, r, &b, func() string { return b.AppID })
	if !ok {
		return
	}
	var a *fakeAuthorizer
	if code == 0 {
		if a = set.ByID[b.Authorizer]; a == nil || a.RefreshToken == "" || a.RefreshToken != b.RefreshToken {
			code = CodeRefreshTokenInvalid
			set.Stats.Refused61023++
		}
	}
	if code == 0 {
		code = s.takeQuotaLocked(now, a.App, epToken)
	}
	var tok string
	var exp int
	if code == 0 {
		tok, exp = s.classicLocked(now, a.App)
		set.Stats.TokenFetches++
		s.countFetchLocked(b.Authorizer, "authorizer_token")
	}
	if code != 0 {
		s.audit.Errors["authorizer_token/"+strconv.Itoa(code)]++
	}
	s.mu.Unlock()
	if code != 0 {
		s.writeError(w, http.StatusOK, code, "")
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{
		"authorizer_access_token": tok, "expires_in": exp, "authorizer_refresh_token": b.RefreshToken,
	})
}

// handleAuthorizerList is POST /cgi-bin/component/api_get_authorizer_list.
func (s *Server) handleAuthorizerList(w http.ResponseWriter, r *http.Request) {
	var b struct {
		AppID  string `json:"component_appid"`
		Offset int    `json:"offset"`
		Count  int    `json:"count"`
	}
	set, _, code, ok := s.beginComponentCall(w, r, &b, func() string { return b.AppID })
	if !ok {
		return
	}
	defer s.mu.Unlock()
	if code == 0 && (b.Count < 1 || b.Count > 500 || b.Offset < 0) {
		code = CodeInvalidArgs
	}
	if code != 0 {
		s.writeError(w, http.StatusOK, code, "")
		return
	}
	set.Stats.ListCalls++
	list := []map[string]any{}
	active := 0
	for _, id := range set.Order {
		a := set.ByID[id]
		if a.RefreshToken == "" {
			continue
		}
		if active >= b.Offset && len(list) < b.Count {
			list = append(list, map[string]any{"authorizer_appid": id, "refresh_token": a.RefreshToken, "auth_time": a.AuthTime})
		}
		active++
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"total_count": active, "list": list})
}
