package wechattest

import (
	"net/http"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
)

// AddDingTalk registers a DingTalk internal app, or changes its secret if
// it exists. Its key is DingTalkKey(appKey).
func (s *Server) AddDingTalk(appKey, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addHeldLocked(PlatformDingTalk, DingTalkKey(appKey), secret)
}

// RotateDingTalk simulates DingTalk replacing the token of appKey out of
// band: the current token dies at once (40014) and a new one is issued. It
// returns the new token, or "" for an unknown app.
func (s *Server) RotateDingTalk(appKey string) string { return s.rotateHeld(DingTalkKey(appKey)) }

func (s *Server) dingtalkRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /gettoken", s.handleDingTalkToken)
	mux.HandleFunc("GET /get_jsapi_ticket", func(w http.ResponseWriter, r *http.Request) {
		s.serveTicket(w, r, epDingTalkTicket, r.URL.Query().Get("access_token"), KindJSAPI)
	})
	mux.HandleFunc("POST /topapi/user/count", func(w http.ResponseWriter, r *http.Request) {
		s.serveProbe(w, r, epDingTalkCount, r.URL.Query().Get("access_token"),
			okBody(map[string]any{"result": map[string]int{"count": 1}, "request_id": envelope.RID()}))
	})
}

// handleDingTalkToken is GET /gettoken?appkey=&appsecret=: the same token
// while it is valid, its life extended to a full Lifetime by a repeat
// (unless Config.DingTalkRepeat is RenewKeep).
func (s *Server) handleDingTalkToken(w http.ResponseWriter, r *http.Request) {
	if s.applyFault(w, r, epDingTalkToken) {
		return
	}
	q := r.URL.Query()
	key, secret := q.Get("appkey"), q.Get("appsecret")
	auth := func() (*heldApp, int) {
		if key == "" || secret == "" {
			return nil, 40035
		}
		h := s.held[DingTalkKey(key)]
		if h == nil || h.Secret != secret {
			return nil, 40096
		}
		return h, 0
	}
	s.serveHeld(w, epDingTalkToken, auth, holdPolicy{Extend: s.cfg.DingTalkRepeat != RenewKeep},
		func(tok string, expiresIn int) any {
			return okBody(map[string]any{"access_token": tok, "expires_in": expiresIn})
		})
}
