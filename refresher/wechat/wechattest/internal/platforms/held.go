package platforms

import (
	"net/http"
	"strings"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

func (h *handlers) wecomRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /cgi-bin/gettoken", h.handleWeComToken)
	mux.HandleFunc("GET /cgi-bin/get_jsapi_ticket", func(w http.ResponseWriter, r *http.Request) {
		h.host.ServeTicket(w, r, WeComJSAPI, r.URL.Query().Get("access_token"), KindJSAPI)
	})
	mux.HandleFunc("GET /cgi-bin/ticket/get", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		kind := ""
		if q.Get("type") == KindAgentConfig {
			kind = KindAgentConfig
		}
		h.host.ServeTicket(w, r, WeComAgent, q.Get("access_token"), kind)
	})
	mux.HandleFunc("GET /cgi-bin/get_api_domain_ip", func(w http.ResponseWriter, r *http.Request) {
		h.host.ServeProbe(w, r, WeComDomainIP, r.URL.Query().Get("access_token"),
			envelope.OK(map[string]any{"ip_list": []string{"182.254.11.176", "182.254.78.66"}}))
	})
}

// handleWeComToken is GET /cgi-bin/gettoken?corpid=&corpsecret=: the
// app's token, the same while it is valid; expires_in is its remaining
// life (a full Lifetime again after a repeat with RenewExtend).
func (h *handlers) handleWeComToken(w http.ResponseWriter, r *http.Request) {
	if h.host.ApplyFault(w, r, WeComToken) {
		return
	}
	q := r.URL.Query()
	corpid, secret := q.Get("corpid"), q.Get("corpsecret")
	auth := func() (*ledger.Held, int) {
		switch {
		case corpid == "":
			return nil, 41002
		case secret == "":
			return nil, 41004
		}
		c := h.books.Corps[corpid]
		if c == nil {
			return nil, 40013
		}
		for _, app := range c.Apps {
			if app.Secret == secret {
				return app, 0
			}
		}
		return nil, 40001
	}
	h.serveHeld(w, ledger.PlatformWeCom, WeComToken, auth, ledger.HoldPolicy{Extend: h.cfg.WeComExtend},
		func(tok string, expiresIn int) any {
			return envelope.OK(map[string]any{"access_token": tok, "expires_in": expiresIn})
		})
}

func (h *handlers) feishuRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /open-apis/auth/v3/tenant_access_token/internal", h.handleFeishuToken)
	mux.HandleFunc("GET /open-apis/event/v1/outbound_ip", func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		h.host.ServeProbe(w, r, FeishuIP, tok, map[string]any{"code": 0, "msg": "success", "data": map[string]any{
			"ip_list": []string{"110.43.48.0/24", "101.126.48.0/24"}, "page_token": "", "has_more": false,
		}})
	})
}

// handleFeishuToken is POST /open-apis/auth/v3/tenant_access_token/internal
// {"app_id","app_secret"}: the same token while at least FeishuRotateWindow
// of it is left, then a new one (both valid until their own expiry);
// expire is the remaining life in seconds.
func (h *handlers) handleFeishuToken(w http.ResponseWriter, r *http.Request) {
	if h.host.ApplyFault(w, r, FeishuToken) {
		return
	}
	var body struct {
		AppID     string `json:"app_id"`
		AppSecret string `json:"app_secret"`
	}
	err := envelope.Decode(r, &body)
	auth := func() (*ledger.Held, int) {
		if err != nil || body.AppID == "" || body.AppSecret == "" {
			return nil, envelope.FeishuInvalidParam
		}
		app := h.books.Held[ledger.FeishuKey(body.AppID)]
		switch {
		case app == nil:
			return nil, envelope.FeishuInvalidParam
		case app.Secret != body.AppSecret:
			return nil, envelope.FeishuBadSecret
		}
		return app, 0
	}
	h.serveHeld(w, ledger.PlatformFeishu, FeishuToken, auth, ledger.HoldPolicy{RenewWithin: h.cfg.FeishuRotateWindow},
		func(tok string, expiresIn int) any {
			return map[string]any{"code": 0, "msg": "ok", "tenant_access_token": tok, "expire": expiresIn}
		})
}

func (h *handlers) dingtalkRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /gettoken", h.handleDingTalkToken)
	mux.HandleFunc("GET /get_jsapi_ticket", func(w http.ResponseWriter, r *http.Request) {
		h.host.ServeTicket(w, r, DingTalkTicket, r.URL.Query().Get("access_token"), KindJSAPI)
	})
	mux.HandleFunc("POST /topapi/user/count", func(w http.ResponseWriter, r *http.Request) {
		h.host.ServeProbe(w, r, DingTalkCount, r.URL.Query().Get("access_token"),
			envelope.OK(map[string]any{"result": map[string]int{"count": 1}, "request_id": envelope.RID()}))
	})
}

// handleDingTalkToken is GET /gettoken?appkey=&appsecret=: the same token
// while it is valid, its life extended to a full Lifetime by a repeat
// (unless Config.DingTalkRepeat is RenewKeep).
func (h *handlers) handleDingTalkToken(w http.ResponseWriter, r *http.Request) {
	if h.host.ApplyFault(w, r, DingTalkToken) {
		return
	}
	q := r.URL.Query()
	key, secret := q.Get("appkey"), q.Get("appsecret")
	auth := func() (*ledger.Held, int) {
		if key == "" || secret == "" {
			return nil, 40035
		}
		app := h.books.Held[ledger.DingTalkKey(key)]
		if app == nil || app.Secret != secret {
			return nil, 40096
		}
		return app, 0
	}
	h.serveHeld(w, ledger.PlatformDingTalk, DingTalkToken, auth, ledger.HoldPolicy{Extend: h.cfg.DingTalkExtend},
		func(tok string, expiresIn int) any {
			return envelope.OK(map[string]any{"access_token": tok, "expires_in": expiresIn})
		})
}
