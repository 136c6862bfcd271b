package wechattest

import (
	"net/http"
	"strconv"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
)

// componentRoutes serves the Open Platform endpoints and the component
// test hooks:
//
//	POST /components {"appid","secret","token","encoding_aes_key","callback_urls",
//	                  "push_every":"10m","ticket_lifetime":"12h"}   AddComponent
//	POST /components/push?appid=A              PushTicket; answers the Push
//	POST /components/replay?appid=A&back=N     ReplayPush
//	POST /components/stop?appid=A              StopPushes
//	POST /components/expire_tickets?appid=A    ExpireVerifyTickets
//	GET  /components/stats?appid=A             ComponentStats
func (s *Server) componentRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /cgi-bin/component/api_component_token", s.handleComponentToken)
	mux.HandleFunc("POST /cgi-bin/component/api_start_push_ticket", s.handleStartPush)
	mux.HandleFunc("POST /components", s.handleAddComponent)
	s.authorizerRoutes(mux)
	mux.HandleFunc("POST /components/push", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.PushTicket(r.Context(), r.URL.Query().Get("appid"))
		s.answerPush(w, p, err)
	})
	mux.HandleFunc("POST /components/replay", func(w http.ResponseWriter, r *http.Request) {
		back, _ := strconv.Atoi(r.URL.Query().Get("back"))
		p, err := s.ReplayPush(r.Context(), r.URL.Query().Get("appid"), back)
		s.answerPush(w, p, err)
	})
	mux.HandleFunc("POST /components/stop", func(w http.ResponseWriter, r *http.Request) {
		s.StopPushes(r.URL.Query().Get("appid"))
		s.writeJSON(w, http.StatusOK, okBody(map[string]any{}))
	})
	mux.HandleFunc("POST /components/expire_tickets", func(w http.ResponseWriter, r *http.Request) {
		s.ExpireVerifyTickets(r.URL.Query().Get("appid"))
		s.writeJSON(w, http.StatusOK, okBody(map[string]any{}))
	})
	mux.HandleFunc("GET /components/stats", func(w http.ResponseWriter, r *http.Request) {
		s.writeJSON(w, http.StatusOK, s.ComponentStats(r.URL.Query().Get("appid")))
	})
}

func (s *Server) answerPush(w http.ResponseWriter, p Push, err error) {
	if err != nil {
		s.invalid(w, "%v", err)
		return
	}
	s.writeJSON(w, http.StatusOK, okBody(map[string]any{
		"create_time": p.CreateTime, "url": p.URL, "status": p.Status, "body": p.Body, "error": p.Err,
	}))
}

func (s *Server) handleAddComponent(w http.ResponseWriter, r *http.Request) {
	var b struct {
		AppID          string   `json:"appid"`
		Secret         string   `json:"secret"`
		Token          string   `json:"token"`
		EncodingAESKey string   `json:"encoding_aes_key"`
		CallbackURLs   []string `json:"callback_urls"`
		PushEvery      string   `json:"push_every"`
		TicketLifetime string   `json:"ticket_lifetime"`
	}
	if !s.decodeHook(w, r, &b) {
		return
	}
	if b.AppID == "" || b.Secret == "" || len(b.CallbackURLs) == 0 {
		s.invalid(w, "appid, secret and callback_urls are required")
		return
	}
	var every, life time.Duration
	for _, d := range []struct {
		name, v string
		p       *time.Duration
	}{{"push_every", b.PushEvery, &every}, {"ticket_lifetime", b.TicketLifetime, &life}} {
		if d.v == "" {
			continue
		}
		v, err := time.ParseDuration(d.v)
		if err != nil || v < 0 {
			s.invalid(w, "%s %q is not a duration", d.name, d.v)
			return
		}
		*d.p = v
	}
	err := s.AddComponent(Component{
		AppID: b.AppID, Secret: b.Secret, Token: b.Token, EncodingAESKey: b.EncodingAESKey,
		CallbackURLs: b.CallbackURLs, PushEvery: every, TicketLifetime: life,
	})
	if err != nil {
		s.invalid(w, "%v", err)
		return
	}
	s.writeJSON(w, http.StatusOK, okBody(map[string]any{"app": b.AppID}))
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
	if err := envelope.Decode(r, &b); err != nil {
		s.writeError(w, http.StatusOK, 47001, "")
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
	if err := envelope.Decode(r, &b); err != nil {
		s.writeError(w, http.StatusOK, 47001, "")
		return
	}
	s.mu.Lock()
	c, code := s.componentLocked(b.AppID, b.Secret)
	if code == 0 {
		c.Stats.StartPush++
	}
	s.mu.Unlock()
	if code != 0 {
		s.writeError(w, http.StatusOK, code, "")
		return
	}
	s.writeJSON(w, http.StatusOK, okBody(map[string]any{}))
	s.StartPushes(b.AppID)
	go func() {
		ctx, cancel := s.closingContext()
		defer cancel()
		_, _ = s.PushTicket(ctx, b.AppID)
	}()
}
