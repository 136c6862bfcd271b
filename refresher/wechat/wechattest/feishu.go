package wechattest

import (
	"net/http"
	"strings"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
)

// Feishu's codes (see envelope).
const (
	feishuInvalidParam = envelope.FeishuInvalidParam
	feishuBadSecret    = envelope.FeishuBadSecret
	feishuMissingToken = envelope.FeishuMissingToken
	feishuInvalidToken = envelope.FeishuInvalidToken
)

// AddFeishu registers a Feishu self-built app, or changes its secret if it
// exists. Its key is FeishuKey(appID).
func (s *Server) AddFeishu(appID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addHeldLocked(PlatformFeishu, FeishuKey(appID), secret)
}

// RotateFeishu simulates Feishu replacing the tenant token of appID out of
// band: the current token dies at once (99991663) and a new one is
// issued. It returns the new token, or "" for an unknown app.
func (s *Server) RotateFeishu(appID string) string { return s.rotateHeld(FeishuKey(appID)) }

func (s *Server) feishuRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /open-apis/auth/v3/tenant_access_token/internal", s.handleFeishuToken)
	mux.HandleFunc("GET /open-apis/event/v1/outbound_ip", func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.serveProbe(w, r, epFeishuIP, tok, map[string]any{"code": 0, "msg": "success", "data": map[string]any{
			"ip_list": []string{"110.43.48.0/24", "101.126.48.0/24"}, "page_token": "", "has_more": false,
		}})
	})
}

// handleFeishuToken is POST /open-apis/auth/v3/tenant_access_token/internal
// {"app_id","app_secret"}: the same token while at least FeishuRotateWindow
// of it is left, then a new one (both valid until their own expiry);
// expire is the remaining life in seconds.
func (s *Server) handleFeishuToken(w http.ResponseWriter, r *http.Request) {
	if s.applyFault(w, r, epFeishuToken) {
		return
	}
	var body struct {
		AppID     string `json:"app_id"`
		AppSecret string `json:"app_secret"`
	}
	err := envelope.Decode(r, &body)
	auth := func() (*heldApp, int) {
		if err != nil || body.AppID == "" || body.AppSecret == "" {
			return nil, feishuInvalidParam
		}
		h := s.held[FeishuKey(body.AppID)]
		switch {
		case h == nil:
			return nil, feishuInvalidParam
		case h.Secret != body.AppSecret:
			return nil, feishuBadSecret
		}
		return h, 0
	}
	s.serveHeld(w, epFeishuToken, auth, holdPolicy{RenewWithin: s.cfg.FeishuRotateWindow},
		func(tok string, expiresIn int) any {
			return map[string]any{"code": 0, "msg": "ok", "tenant_access_token": tok, "expire": expiresIn}
		})
}
