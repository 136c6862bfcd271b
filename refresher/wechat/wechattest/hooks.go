package wechattest

import (
	"fmt"
	"net/http"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
)

// The test hooks: the Go API over HTTP, for tests in other processes
// (wxsim). They answer in WeChat's envelope whatever the platform; an
// invalid request gets 40097 with a reason, an unknown app 40013.
//
//	GET    /audit                                   Audit as JSON
//	POST   /apps {"platform","appid","agentid","secret"}
//	                                                AddApp, AddWeCom, AddFeishu, AddDingTalk;
//	                                                answers {"errcode":0,"errmsg":"ok","app":KEY}
//	POST   /rotate?app=KEY[&endpoint=token|stable_token]
//	                                                Rotate (appid= is accepted for app=),
//	                                                RotateStable, RotateWeCom/Feishu/DingTalk;
//	                                                answers {"access_token","expires_in"}
//	POST   /rotate_ticket?owner=KEY&kind=KIND       RotateTicket; answers {"ticket","expires_in"}
//	GET    /check?access_token=T | /check?ticket=T  CheckToken / CheckTicket: Status as JSON
//	POST   /fault {"errcode","errmsg","probability","http_status","delay":"1s",
//	               "body","content_type","remaining","endpoint"}   SetFault
//	DELETE /fault                                   ClearFault
func (s *Server) hookRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /audit", func(w http.ResponseWriter, _ *http.Request) { s.writeJSON(w, http.StatusOK, s.Audit()) })
	mux.HandleFunc("POST /apps", s.handleAddApp)
	mux.HandleFunc("POST /rotate", s.handleRotate)
	mux.HandleFunc("POST /rotate_ticket", s.handleRotateTicket)
	mux.HandleFunc("GET /check", s.handleCheck)
	mux.HandleFunc("POST /fault", s.handleSetFault)
	mux.HandleFunc("DELETE /fault", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearFault()
		s.writeJSON(w, http.StatusOK, okBody(map[string]any{}))
	})
}

// invalid answers 40097 with reason.
func (s *Server) invalid(w http.ResponseWriter, format string, args ...any) {
	s.writeError(w, http.StatusOK, 40097, "invalid args: "+fmt.Sprintf(format, args...))
}

// decodeHook decodes a hook's JSON body into v, or answers 40097.
func (s *Server) decodeHook(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := envelope.Decode(r, v); err != nil {
		s.invalid(w, "body is not the expected JSON")
		return false
	}
	return true
}

func (s *Server) handleAddApp(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Platform string `json:"platform"`
		AppID    string `json:"appid"`
		AgentID  string `json:"agentid"`
		Secret   string `json:"secret"`
	}
	if !s.decodeHook(w, r, &b) {
		return
	}
	if b.AppID == "" || b.Secret == "" {
		s.invalid(w, "appid and secret are required")
		return
	}
	var key string
	switch b.Platform {
	case "", PlatformWeChat:
		s.AddApp(b.AppID, b.Secret)
		key = b.AppID
	case PlatformWeCom:
		if err := s.AddWeCom(b.AppID, b.AgentID, b.Secret); err != nil {
			s.invalid(w, "%v", err)
			return
		}
		key = WeComKey(b.AppID, b.AgentID)
	case PlatformFeishu:
		s.AddFeishu(b.AppID, b.Secret)
		key = FeishuKey(b.AppID)
	case PlatformDingTalk:
		s.AddDingTalk(b.AppID, b.Secret)
		key = DingTalkKey(b.AppID)
	default:
		s.invalid(w, "unknown platform %q", b.Platform)
		return
	}
	s.writeJSON(w, http.StatusOK, okBody(map[string]any{"app": key}))
}

// handleRotate is POST /rotate?app=KEY&endpoint=token|stable_token: an
// out-of-band rotation of an app's token.
func (s *Server) handleRotate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := q.Get("app")
	if key == "" {
		key = q.Get("appid")
	}
	var tok string
	switch ep := q.Get("endpoint"); ep {
	case epStable:
		tok = s.RotateStable(key)
	case "", epToken:
		if tok = s.rotateHeld(key); tok == "" {
			tok = s.Rotate(key)
		}
	default:
		s.invalid(w, "unknown endpoint %q", ep)
		return
	}
	if tok == "" {
		s.writeError(w, http.StatusOK, 40013, "")
		return
	}
	s.writeJSON(w, http.StatusOK, tokenAnswer{AccessToken: tok, ExpiresIn: seconds(s.cfg.Lifetime)})
}

func (s *Server) handleRotateTicket(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := s.RotateTicket(q.Get("owner"), q.Get("kind"))
	if v == "" {
		s.writeError(w, http.StatusOK, 40013, "invalid appid: no such ticket owner and kind")
		return
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"ticket": v, "expires_in": seconds(s.cfg.TicketLifetime)})
}

func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	_, hasTicket := q["ticket"]
	switch {
	case hasTicket && q.Has("access_token"):
		s.invalid(w, "give access_token or ticket, not both")
	case hasTicket:
		s.writeJSON(w, http.StatusOK, s.CheckTicket(q.Get("ticket")))
	default:
		s.writeJSON(w, http.StatusOK, s.CheckToken(q.Get("access_token")))
	}
}

func (s *Server) handleSetFault(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Errcode     int     `json:"errcode"`
		Errmsg      string  `json:"errmsg"`
		Probability float64 `json:"probability"`
		HTTPStatus  int     `json:"http_status"`
		Delay       string  `json:"delay"`
		Body        string  `json:"body"`
		ContentType string  `json:"content_type"`
		Remaining   int     `json:"remaining"`
		Endpoint    string  `json:"endpoint"`
	}
	if !s.decodeHook(w, r, &b) {
		return
	}
	var delay time.Duration
	if b.Delay != "" {
		var err error
		if delay, err = time.ParseDuration(b.Delay); err != nil || delay < 0 {
			s.invalid(w, "delay %q is not a duration", b.Delay)
			return
		}
	}
	switch _, known := s.endpoints[b.Endpoint]; {
	case b.Endpoint != "" && !known:
		s.invalid(w, "unknown endpoint %q", b.Endpoint)
		return
	case b.Probability < 0 || b.Probability > 1:
		s.invalid(w, "probability must be in [0, 1]")
		return
	case b.HTTPStatus != 0 && (b.HTTPStatus < 200 || b.HTTPStatus > 599):
		s.invalid(w, "http_status %d", b.HTTPStatus)
		return
	}
	s.SetFault(Fault{
		Errcode: b.Errcode, Errmsg: b.Errmsg, Probability: b.Probability, HTTPStatus: b.HTTPStatus,
		Delay: delay, Body: b.Body, ContentType: b.ContentType, Remaining: b.Remaining, Endpoint: b.Endpoint,
	})
	s.writeJSON(w, http.StatusOK, okBody(map[string]any{}))
}
