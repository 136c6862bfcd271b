package wechattest

import (
	"errors"
	"net/http"
	"strings"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

// wecomCorp is one WeCom corp. Fields are guarded by Server.mu.
type wecomCorp = ledger.Corp

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
		c = ledger.NewCorp(corpid)
		s.corps[corpid] = c
	}
	for id, h := range c.Apps {
		if id != agentid && h.Secret == secret {
			return errors.New("wechattest: AddWeCom: another app of the corp has this secret")
		}
	}
	h := s.addHeldLocked(PlatformWeCom, WeComKey(corpid, agentid), secret)
	h.Corp = c
	c.Apps[agentid] = h
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
		for _, h := range c.Apps {
			if h.Secret == secret {
				return h, 0
			}
		}
		return nil, 40001
	}
	s.serveHeld(w, epWeComToken, auth, holdPolicy{Extend: s.cfg.WeComRepeat == RenewExtend},
		func(tok string, expiresIn int) any {
			return okBody(map[string]any{"access_token": tok, "expires_in": expiresIn})
		})
}
