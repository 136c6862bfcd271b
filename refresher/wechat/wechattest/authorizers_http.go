package wechattest

import (
	"net/http"
	"strconv"
	"time"
)

// authorizerRoutes serves the Open Platform's authorizer endpoints (the
// hooks are in internal/hooks).
func (s *Server) authorizerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /cgi-bin/component/api_query_auth", s.handleQueryAuth)
	mux.HandleFunc("POST /cgi-bin/component/api_authorizer_token", s.handleAuthorizerToken)
	mux.HandleFunc("POST /cgi-bin/component/api_get_authorizer_list", s.handleAuthorizerList)
	s.preAuthRoutes(mux)
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
	if !s.decodeBody(w, r, b) {
		return nil, time.Time{}, 0, false
	}
	s.mu.Lock()
	now = s.now()
	set, code = s.componentCallLocked(now, r, appid())
	return set, now, code, true
}

// componentCall answers an Open Platform call made with a component
// token: beginComponentCall, then, still holding s.mu, call with the
// component's authorizers, which returns the success body or an errcode.
// Errcodes are counted in Audit.Errors under audited, unless it is "".
func (s *Server) componentCall(w http.ResponseWriter, r *http.Request, b any, appid func() string, audited string,
	call func(set *authorizerSet, now time.Time) (any, int),
) {
	set, now, code, ok := s.beginComponentCall(w, r, b, appid)
	if !ok {
		return
	}
	var ans any
	if code == 0 {
		ans, code = call(set, now)
	}
	if code != 0 && audited != "" {
		s.audit.Errors[audited+"/"+strconv.Itoa(code)]++
	}
	s.mu.Unlock()
	s.answer(w, ans, code)
}

// handleQueryAuth is POST /cgi-bin/component/api_query_auth.
func (s *Server) handleQueryAuth(w http.ResponseWriter, r *http.Request) {
	var b struct {
		AppID string `json:"component_appid"`
		Code  string `json:"authorization_code"`
	}
	s.componentCall(w, r, &b, func() string { return b.AppID }, "", func(set *authorizerSet, now time.Time) (any, int) {
		id := set.Codes[b.Code]
		delete(set.Codes, b.Code)
		a := set.ByID[id]
		if a == nil || a.RefreshToken == "" {
			return nil, CodeAuthCodeInvalid
		}
		tok, exp := s.classicLocked(now, a.App)
		set.Stats.QueryAuth++
		s.countFetchLocked(id, "query_auth")
		return map[string]any{"authorization_info": map[string]any{
			"authorizer_appid": id, "authorizer_access_token": tok, "expires_in": exp, "authorizer_refresh_token": a.RefreshToken,
			"func_info": []map[string]any{{"funcscope_category": map[string]int{"id": 1}}},
		}}, 0
	})
}

// handleAuthorizerToken is POST /cgi-bin/component/api_authorizer_token.
func (s *Server) handleAuthorizerToken(w http.ResponseWriter, r *http.Request) {
	var b struct {
		AppID        string `json:"component_appid"`
		Authorizer   string `json:"authorizer_appid"`
		RefreshToken string `json:"authorizer_refresh_token"`
	}
	s.componentCall(w, r, &b, func() string { return b.AppID }, "authorizer_token", func(set *authorizerSet, now time.Time) (any, int) {
		a := set.ByID[b.Authorizer]
		if a == nil || a.RefreshToken == "" || a.RefreshToken != b.RefreshToken {
			set.Stats.Refused61023++
			return nil, CodeRefreshTokenInvalid
		}
		if code := s.takeQuotaLocked(now, a.App, epToken); code != 0 {
			return nil, code
		}
		tok, exp := s.classicLocked(now, a.App)
		set.Stats.TokenFetches++
		s.countFetchLocked(b.Authorizer, "authorizer_token")
		return map[string]any{"authorizer_access_token": tok, "expires_in": exp, "authorizer_refresh_token": b.RefreshToken}, 0
	})
}

// handleAuthorizerList is POST /cgi-bin/component/api_get_authorizer_list.
func (s *Server) handleAuthorizerList(w http.ResponseWriter, r *http.Request) {
	var b struct {
		AppID  string `json:"component_appid"`
		Offset int    `json:"offset"`
		Count  int    `json:"count"`
	}
	s.componentCall(w, r, &b, func() string { return b.AppID }, "", func(set *authorizerSet, _ time.Time) (any, int) {
		if b.Count < 1 || b.Count > 500 || b.Offset < 0 {
			return nil, CodeInvalidArgs
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
		return map[string]any{"total_count": active, "list": list}, 0
	})
}
