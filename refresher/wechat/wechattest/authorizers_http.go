package wechattest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

// authorizerRoutes serves the Open Platform's authorizer endpoints and
// their test hooks:
//
//	POST /components/authorize?appid=C&authorizer=A    Authorize; answers the Push
//	POST /components/unauthorize?appid=C&authorizer=A  Unauthorize; answers the Push
//	POST /components/revoke?appid=C&authorizer=A       RevokeAuthorizer (no push)
//	POST /components/authorizers?appid=C&prefix=P&n=N  AddAuthorizers (no pushes)
//	GET  /components/authorizer_stats?appid=C          AuthorizerStats
func (s *Server) authorizerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /cgi-bin/component/api_query_auth", s.handleQueryAuth)
	mux.HandleFunc("POST /cgi-bin/component/api_authorizer_token", s.handleAuthorizerToken)
	mux.HandleFunc("POST /cgi-bin/component/api_get_authorizer_list", s.handleAuthorizerList)
	s.preAuthRoutes(mux)
	mux.HandleFunc("POST /components/authorize", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Authorize(r.Context(), r.URL.Query().Get("appid"), r.URL.Query().Get("authorizer"))
		s.answerPush(w, p, err)
	})
	mux.HandleFunc("POST /components/unauthorize", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Unauthorize(r.Context(), r.URL.Query().Get("appid"), r.URL.Query().Get("authorizer"))
		s.answerPush(w, p, err)
	})
	mux.HandleFunc("POST /components/revoke", func(w http.ResponseWriter, r *http.Request) {
		ok := s.RevokeAuthorizer(r.URL.Query().Get("appid"), r.URL.Query().Get("authorizer"))
		s.writeJSON(w, http.StatusOK, okBody(map[string]any{"revoked": ok}))
	})
	mux.HandleFunc("POST /components/authorizers", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 || n > 100_000 || q.Get("prefix") == "" {
			s.invalid(w, "n must be 0..100000 and prefix set")
			return
		}
		ids, err := s.AddAuthorizers(q.Get("appid"), q.Get("prefix"), n)
		if err != nil {
			s.invalid(w, "%v", err)
			return
		}
		s.writeJSON(w, http.StatusOK, okBody(map[string]any{"added": len(ids)}))
	})
	mux.HandleFunc("GET /components/authorizer_stats", func(w http.ResponseWriter, r *http.Request) {
		s.writeJSON(w, http.StatusOK, s.AuthorizerStats(r.URL.Query().Get("appid")))
	})
}

// componentCallLocked checks a call made with a component token: the
// component's authorizer set and the component, or the errcode.
func (s *Server) componentCallLocked(now time.Time, r *http.Request, appid string) (*authorizerSet, int) {
	tok := r.URL.Query().Get("component_access_token")
	if code := s.checkLocked(now, tok); code != CodeOK {
		return nil, code
	}
	if t := s.tokens[tok]; t == nil || t.owner != appid {
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
	if err := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody)).Decode(b); err != nil {
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
		id = set.codes[b.Code]
		if a = set.byID[id]; a == nil || a.refreshToken == "" {
			code = CodeAuthCodeInvalid
		}
		delete(set.codes, b.Code)
	}
	var tok string
	var exp int
	if code == 0 {
		tok, exp = s.classicLocked(now, a.app)
		set.stats.QueryAuth++
		s.countFetchLocked(id, "query_auth")
	}
	rt := ""
	if a != nil {
		rt = a.refreshToken
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
		if a = set.byID[b.Authorizer]; a == nil || a.refreshToken == "" || a.refreshToken != b.RefreshToken {
			code = CodeRefreshTokenInvalid
			set.stats.Refused61023++
		}
	}
	if code == 0 {
		code = s.takeQuotaLocked(now, a.app, epToken)
	}
	var tok string
	var exp int
	if code == 0 {
		tok, exp = s.classicLocked(now, a.app)
		set.stats.TokenFetches++
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
	set.stats.ListCalls++
	list := []map[string]any{}
	active := 0
	for _, id := range set.order {
		a := set.byID[id]
		if a.refreshToken == "" {
			continue
		}
		if active >= b.Offset && len(list) < b.Count {
			list = append(list, map[string]any{"authorizer_appid": id, "refresh_token": a.refreshToken, "auth_time": a.authTime})
		}
		active++
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"total_count": active, "list": list})
}
