package wechattest

import (
	"net/http"
	"strconv"
)

// componentRoutes serves the Open Platform endpoints (the hooks are in
// internal/hooks).
func (s *Server) componentRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /cgi-bin/component/api_component_token", s.handleComponentToken)
	mux.HandleFunc("POST /cgi-bin/component/api_start_push_ticket", s.handleStartPush)
	s.authorizerRoutes(mux)
}

// componentLocked authenticates a component call: the component, or the
// errcode to answer.
func (s *Server) componentLocked(appid, secret string) (*component, int) {
	switch {
	case appid == "":
		return nil, 41002
	case secret == "":
		return nil, 41004
	}
	c := s.open.Locked(appid)
	switch {
	case c == nil:
		return nil, 40013
	case c.Cfg.Secret != secret:
		return nil, 40125
	}
	return c, 0
}

// handleComponentToken is POST /cgi-bin/component/api_component_token.
func (s *Server) handleComponentToken(w http.ResponseWriter, r *http.Request) {
	var b struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_appsecret"`
		Ticket string `json:"component_verify_ticket"`
	}
	if !s.decodeBody(w, r, &b) {
		return
	}
	ans, code := s.componentToken(b.AppID, b.Secret, b.Ticket)
	if code != 0 {
		s.writeError(w, http.StatusOK, code, componentMessages[code])
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"component_access_token": ans.AccessToken, "expires_in": ans.ExpiresIn})
}

var componentMessages = map[int]string{
	CodeTicketExpired: "verify ticket timeout",
	CodeTicketInvalid: "verify ticket invalid",
}

func (s *Server) componentToken(appid, secret, ticket string) (tokenAnswer, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	c, code := s.componentLocked(appid, secret)
	if code == 0 {
		exp, ok := c.Tickets[ticket]
		switch {
		case !ok:
			code = CodeTicketInvalid
		case !now.Before(exp):
			code = CodeTicketExpired
		}
		if code != 0 {
			c.Stats.TicketRefused++
		}
	}
	if code == 0 {
		code = s.takeQuotaLocked(now, c.App, epToken)
	}
	if code != 0 {
		s.audit.Errors["component_token/"+strconv.Itoa(code)]++
		return tokenAnswer{}, code
	}
	var ans tokenAnswer
	ans.AccessToken, ans.ExpiresIn = s.classicLocked(now, c.App)
	s.countFetchLocked(appid, "component_token")
	c.Stats.TokenFetches++
	return ans, 0
}

// handleStartPush is POST /cgi-bin/component/api_start_push_ticket: it
// restarts automatic pushes and pushes one now (after answering).
func (s *Server) handleStartPush(w http.ResponseWriter, r *http.Request) {
	var b struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_secret"`
	}
	if !s.decodeBody(w, r, &b) {
		return
	}
	s.mu.Lock()
	c, code := s.componentLocked(b.AppID, b.Secret)
	if code == 0 {
		c.Stats.StartPush++
	}
	s.mu.Unlock()
	s.answer(w, okBody(map[string]any{}), code)
	if code != 0 {
		return
	}
	s.StartPushes(b.AppID)
	go func() {
		ctx, cancel := s.closingContext()
		defer cancel()
		_, _ = s.PushTicket(ctx, b.AppID)
	}()
}
