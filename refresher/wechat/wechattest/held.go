package wechattest

import (
	"net/http"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

// rotateHeld simulates the platform replacing the token of the app with
// key out of band: the current token dies at once and a new one is issued.
// It returns the new token, or "" for an unknown key.
func (s *Server) rotateHeld(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.books.RotateHeld(s.now(), key)
}

// authorizeLocked checks tok as a protected endpoint of platform does and
// counts the outcome. It returns the key of the token's app, or the token
// state (non-zero) to refuse it with. A token of another platform is
// CodeIllegal.
func (s *Server) authorizeLocked(now time.Time, platform, tok string) (string, int) {
	code := s.checkLocked(now, tok)
	t, _ := s.books.Token(tok)
	if code == CodeOK && t.Platform != platform {
		code = CodeIllegal
	}
	s.countCallLocked(code)
	if code != CodeOK {
		return "", code
	}
	return t.Owner, CodeOK
}

// serveProbe answers a cheap protected call of endpoint ep with tok: body
// if the token is valid, the platform's refusal otherwise.
func (s *Server) serveProbe(w http.ResponseWriter, r *http.Request, ep, tok string, body any) {
	if s.applyFault(w, r, ep) {
		return
	}
	p := s.endpoints[ep].platform
	if s.authorizeCounted(w, p, tok, func(owner string) { s.audit.Probes[owner+"/"+ep]++ }) {
		p.WriteJSON(w, http.StatusOK, body)
	}
}

// Status is what CheckToken and CheckTicket say about a value: its Code
// (the state, not the platform's errcode), Platform, App, Kind and
// ExpiresAt (see ledger.Status).
type Status = ledger.Status

// CheckToken says whether tok is valid, and whose token of which platform
// it is. Like Check, it does not count in the audit.
func (s *Server) CheckToken(tok string) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Code: s.checkLocked(s.now(), tok)}
	if t, ok := s.books.Token(tok); ok {
		st.Platform, st.App, st.Kind, st.ExpiresAt = t.Platform, t.Owner, t.Family, t.ExpiresAt
	}
	return st
}

// AddWeCom registers app agentid of WeCom corp corpid with its
// corpsecret, or changes the app's secret if it exists. WeCom finds the app
// by (corpid, secret), so two apps of a corp cannot share a secret. The
// app's key is WeComKey(corpid, agentid); agentid only names it.
func (s *Server) AddWeCom(corpid, agentid, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.books.AddWeCom(corpid, agentid, secret)
}

// RotateWeCom simulates WeCom invalidating the token of an app early: the
// current token dies at once (answering Config.WeComInvalidatedErrcode)
// and a new one is issued. It returns the new token, or "" for an unknown
// app. The audit counts it under OutOfBand.
func (s *Server) RotateWeCom(corpid, agentid string) string {
	return s.rotateHeld(WeComKey(corpid, agentid))
}

// AddFeishu registers a Feishu self-built app, or changes its secret if it
// exists. Its key is FeishuKey(appID).
func (s *Server) AddFeishu(appID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.books.AddHeld(PlatformFeishu, FeishuKey(appID), secret)
}

// RotateFeishu simulates Feishu replacing the tenant token of appID out of
// band: the current token dies at once (99991663) and a new one is
// issued. It returns the new token, or "" for an unknown app.
func (s *Server) RotateFeishu(appID string) string { return s.rotateHeld(FeishuKey(appID)) }

// AddDingTalk registers a DingTalk internal app, or changes its secret if
// it exists. Its key is DingTalkKey(appKey).
func (s *Server) AddDingTalk(appKey, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.books.AddHeld(PlatformDingTalk, DingTalkKey(appKey), secret)
}

// RotateDingTalk simulates DingTalk replacing the token of appKey out of
// band: the current token dies at once (40014) and a new one is issued. It
// returns the new token, or "" for an unknown app.
func (s *Server) RotateDingTalk(appKey string) string { return s.rotateHeld(DingTalkKey(appKey)) }

// platformHost adapts the Server to platforms.Host.
type platformHost struct{ *Server }

func (h platformHost) ApplyFault(w http.ResponseWriter, r *http.Request, ep string) bool {
	return h.applyFault(w, r, ep)
}

func (h platformHost) ServeTicket(w http.ResponseWriter, r *http.Request, ep, tok, kind string) {
	h.serveTicket(w, r, ep, tok, kind)
}

func (h platformHost) ServeProbe(w http.ResponseWriter, r *http.Request, ep, tok string, body any) {
	h.serveProbe(w, r, ep, tok, body)
}
