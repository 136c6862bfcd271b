package wechattest

import (
	"net/http"
	"strconv"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
)

// maxRequestBody bounds POST bodies read by the fake.
const maxRequestBody = envelope.MaxRequestBody

// writeJSON answers v as WeChat does.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	s.platforms[PlatformWeChat].WriteJSON(w, status, v)
}

// writeError answers WeChat's error envelope; msg defaults to WeChat's text.
func (s *Server) writeError(w http.ResponseWriter, status, code int, msg string) {
	s.platforms[PlatformWeChat].WriteError(w, status, code, msg)
}

// answer answers ans, or errcode code in WeChat's envelope if it is not 0.
func (s *Server) answer(w http.ResponseWriter, ans any, code int) {
	if code != 0 {
		s.writeError(w, http.StatusOK, code, "")
		return
	}
	s.writeJSON(w, http.StatusOK, ans)
}

// decodeBody decodes the JSON body of r into b, or answers 47001.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, b any) bool {
	if err := envelope.Decode(r, b); err != nil {
		s.writeError(w, http.StatusOK, 47001, "")
		return false
	}
	return true
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// creds are the credentials of a token request.
type creds struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

// authLocked checks c and returns its app, or the errcode to answer;
// wrongSecret is the code for a secret that does not match.
func (s *Server) authLocked(c creds, wrongSecret int) (*app, int) {
	switch {
	case c.AppID == "":
		return nil, 41002
	case c.Secret == "":
		return nil, 41004
	case c.GrantType != "client_credential":
		return nil, 40002
	}
	a, ok := s.apps[c.AppID]
	switch {
	case !ok:
		return nil, 40013
	case a.Secret != c.Secret:
		return nil, wrongSecret
	}
	return a, 0
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if s.applyFault(w, r, epToken) {
		return
	}
	q := r.URL.Query()
	c := creds{GrantType: q.Get("grant_type"), AppID: q.Get("appid"), Secret: q.Get("secret")}
	ans, code := s.fetchClassic(c)
	s.answer(w, ans, code)
}

func (s *Server) fetchClassic(c creds) (tokenAnswer, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	a, code := s.authLocked(c, 40001)
	if code == 0 {
		code = s.takeQuotaLocked(now, a, epToken)
	}
	if code != 0 {
		s.audit.Errors[epToken+"/"+strconv.Itoa(code)]++
		return tokenAnswer{}, code
	}
	var ans tokenAnswer
	ans.AccessToken, ans.ExpiresIn = s.classicLocked(now, a)
	s.countFetchLocked(a.ID, epToken)
	return ans, 0
}

func (s *Server) handleStableToken(w http.ResponseWriter, r *http.Request) {
	if s.applyFault(w, r, epStable) {
		return
	}
	var c creds
	if err := envelope.Decode(r, &c); err != nil {
		s.mu.Lock()
		s.audit.Errors[epStable+"/47001"]++
		s.mu.Unlock()
		s.writeError(w, http.StatusOK, 47001, "")
		return
	}
	ans, code := s.fetchStable(c)
	s.answer(w, ans, code)
}

func (s *Server) fetchStable(c creds) (tokenAnswer, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	a, code := s.authLocked(c, 40125)
	if code == 0 {
		code = s.takeQuotaLocked(now, a, epStable)
	}
	var ans tokenAnswer
	if code == 0 && c.ForceRefresh {
		ans.AccessToken, ans.ExpiresIn, code = s.books.Force(now, a)
	} else if code == 0 {
		ans.AccessToken, ans.ExpiresIn = s.books.Stable(now, a)
	}
	if code != 0 {
		s.audit.Errors[epStable+"/"+strconv.Itoa(code)]++
		return tokenAnswer{}, code
	}
	key := epStable
	if c.ForceRefresh {
		key = epStableForce
	}
	s.countFetchLocked(a.ID, key)
	return ans, 0
}

func (s *Server) handleClearQuota(w http.ResponseWriter, r *http.Request) {
	if s.applyFault(w, r, epClearQuota) {
		return
	}
	var body struct {
		AppID     string `json:"appid"`
		AppSecret string `json:"appsecret"`
	}
	if s.decodeBody(w, r, &body) {
		s.answer(w, okBody(map[string]any{}), s.clearQuota(body.AppID, body.AppSecret))
	}
}

func (s *Server) clearQuota(appid, secret string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, code := s.authLocked(creds{GrantType: "client_credential", AppID: appid, Secret: secret}, 40125)
	if code != 0 {
		return code
	}
	return s.books.ClearQuota(s.now(), a)
}

func (s *Server) handleCallbackIP(w http.ResponseWriter, r *http.Request) {
	s.serveProbe(w, r, epCallbackIP, r.URL.Query().Get("access_token"),
		map[string][]string{"ip_list": {"101.226.103.0/25", "101.226.233.128/25", "58.247.206.128/25"}})
}

// handleTicket is GET /cgi-bin/ticket/getticket?access_token=&type=: the
// account's ticket of that type, for its classic and stable tokens alike.
func (s *Server) handleTicket(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind := q.Get("type")
	if kind != KindJSAPI && kind != KindWxCard {
		kind = ""
	}
	s.serveTicket(w, r, epTicket, q.Get("access_token"), kind)
}
