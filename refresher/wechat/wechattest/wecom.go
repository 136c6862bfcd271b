package wechattest

import (
	"errors"
	"net/http"
	"strings"
)

// wecomMessages are WeCom's errmsg texts (without the hint suffix).
var wecomMessages = map[int]string{
	-1:    "system busy",
	40001: "invalid credential",
	40013: "invalid corpid",
	40014: "invalid access_token",
	40058: "invalid parameter",
	41001: "access_token missing",
	41002: "corpid missing",
	41004: "corpsecret missing",
	42001: "access_token expired",
	45009: "api freq out of limit",
	45033: "api concurrent out of limit",
	60020: "not allow to access from your ip",
}

// wecomCorp is one WeCom corp. Fields are guarded by Server.mu.
type wecomCorp struct {
	id      string
	apps    map[string]*heldApp // by agentid
	windows map[string]*window  // ticket calls of all its apps in the last hour, by kind
}

func (c *wecomCorp) window(kind string) *window { return windowOf(c.windows, kind) }
func (h *heldApp) window(kind string) *window   { return windowOf(h.windows, kind) }

func windowOf(m map[string]*window, kind string) *window {
	w := m[kind]
	if w == nil {
		w = &window{}
		m[kind] = w
	}
	return w
}

// AddWeCom registers app agentid of WeCom corp corpid with its
// corpsecret, or changes the app's secret if it exists. WeCom finds the app
// by (corpid, secret), so two apps of a corp cannot share a secret. The
// app's key is WeComKey(corpid, agentid); agentid only names it.
func (s *Server) AddWeCom(corpid, agentid, secret string) error {
	if corpid == "" || agentid == "" || secret == "" {
		return errors.New("wechattest: AddWeCom needs corpid, agentid and secret")
	}
	if strings.Contains(corpid, ":") || strings.Contains(agentid, ":") {
		return errors.New("wechattest: AddWeCom: corpid and agentid cannot contain ':'")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.corps[corpid]
	if c == nil {
		c = &wecomCorp{id: corpid, apps: make(map[string]*heldApp), windows: make(map[string]*window)}
		s.corps[corpid] = c
	}
	for id, h := range c.apps {
		if id != agentid && h.secret == secret {
			return errors.New("wechattest: AddWeCom: another app of the corp has this secret")
		}
	}
	h := s.addHeldLocked(PlatformWeCom, WeComKey(corpid, agentid), secret)
	h.corp = c
	if h.windows == nil {
		h.windows = make(map[string]*window)
	}
	c.apps[agentid] = h
	return nil
}

// RotateWeCom simulates WeCom invalidating the token of an app early: the
// current token dies at once (answering Config.WeComInvalidatedErrcode)
// and a new one is issued. It returns the new token, or "" for an unknown
// app. The audit counts it under OutOfBand.
func (s *Server) RotateWeCom(corpid, agentid string) string {
	return s.rotateHeld(WeComKey(corpid, agentid))
}

func (s *Server) wecomRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /cgi-bin/gettoken", s.handleWeComToken)
	mux.HandleFunc("GET /cgi-bin/get_jsapi_ticket", func(w http.ResponseWriter, r *http.Request) {
		s.serveTicket(w, r, epWeComJSAPI, r.URL.Query().Get("access_token"), KindJSAPI)
	})
	mux.HandleFunc("GET /cgi-bin/ticket/get", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		kind := ""
		if q.Get("type") == KindAgentConfig {
			kind = KindAgentConfig
		}
		s.serveTicket(w, r, epWeComAgent, q.Get("access_token"), kind)
	})
	mux.HandleFunc("GET /cgi-bin/get_api_domain_ip", func(w http.ResponseWriter, r *http.Request) {
		s.serveProbe(w, r, epWeComDomainIP, r.URL.Query().Get("access_token"),
			okBody(map[string]any{"ip_list": []string{"182.254.11.176", "182.254.78.66"}}))
	})
}

// handleWeComToken is GET /cgi-bin/gettoken?corpid=&corpsecret=: the
// app's token, the same while it is valid; expires_in is its remaining
// life (a full Lifetime again after a repeat with RenewExtend).
func (s *Server) handleWeComToken(w http.ResponseWriter, r *http.Request) {
	if s.applyFault(w, r, epWeComToken) {
		return
	}
	q := r.URL.Query()
	corpid, secret := q.Get("corpid"), q.Get("corpsecret")
	auth := func() (*heldApp, int) {
		switch {
		case corpid == "":
			return nil, 41002
		case secret == "":
			return nil, 41004
		}
		c := s.corps[corpid]
		if c == nil {
			return nil, 40013
		}
		for _, h := range c.apps {
			if h.secret == secret {
				return h, 0
			}
		}
		return nil, 40001
	}
	s.serveHeld(w, epWeComToken, auth, holdPolicy{extend: s.cfg.WeComRepeat == RenewExtend},
		func(tok string, expiresIn int) any {
			return okBody(map[string]any{"access_token": tok, "expires_in": expiresIn})
		})
}
