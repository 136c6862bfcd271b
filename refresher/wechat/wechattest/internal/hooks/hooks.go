// Package hooks serves the test hooks of the fake upstream (package
// wechattest): its Go API over HTTP, for tests in other processes (wxsim).
// They answer in WeChat's envelope whatever the platform; an invalid
// request gets 40097 with a reason, an unknown app 40013.
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
//
// The Open Platform's hooks:
//
//	POST /components {"appid","secret","token","encoding_aes_key","callback_urls",
//	                  "push_every":"10m","ticket_lifetime":"12h"}   AddComponent
//	POST /components/push?appid=A              PushTicket; answers the Push
//	POST /components/replay?appid=A&back=N     ReplayPush
//	POST /components/stop?appid=A              StopPushes
//	POST /components/expire_tickets?appid=A    ExpireVerifyTickets
//	GET  /components/stats?appid=A             ComponentStats
//	POST /components/authorize?appid=C&authorizer=A    Authorize; answers the Push
//	POST /components/unauthorize?appid=C&authorizer=A  Unauthorize; answers the Push
//	POST /components/revoke?appid=C&authorizer=A       RevokeAuthorizer (no push)
//	POST /components/authorizers?appid=C&prefix=P&n=N  AddAuthorizers (no pushes)
//	GET  /components/authorizer_stats?appid=C          AuthorizerStats
//	POST /components/authorize_code?appid=C&authorizer=A&pre_auth_code=P
//	     AuthorizeWithPreAuthCode: {"auth_code","expires_in"}; a bad pre_auth_code: 40097
//
// The hooks hold no state: they are safe for concurrent use as far as the
// Fake is.
package hooks

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/fault"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/openplat"
)

// Paths are the paths of the hooks that Audit.Requests does not count.
var Paths = map[string]bool{"/audit": true, "/apps": true, "/rotate": true, "/rotate_ticket": true, "/check": true, "/fault": true}

// Fake is what the hooks drive: wechattest.Server's exported API, and
// two adapters.
type Fake interface {
	Audit() ledger.Audit
	AddApp(appid, secret string)
	AddWeCom(corpid, agentid, secret string) error
	AddFeishu(appID, secret string)
	AddDingTalk(appKey, secret string)
	// RotateKey rotates the token of the app with key (the classic token
	// of a WeChat account) out of band and returns it; "" for an unknown
	// app.
	RotateKey(key string) string
	RotateStable(appid string) string
	// Lifetimes are the configured token and ticket lifetimes.
	Lifetimes() (token, ticket time.Duration)
	RotateTicket(owner, kind string) string
	CheckToken(tok string) ledger.Status
	CheckTicket(v string) ledger.Status
	Endpoints() []string
	SetFault(f fault.Fault)
	ClearFault()

	AddComponent(c openplat.Component) error
	PushTicket(ctx context.Context, appid string) (openplat.Push, error)
	ReplayPush(ctx context.Context, appid string, back int) (openplat.Push, error)
	StopPushes(appid string)
	ExpireVerifyTickets(appid string)
	ComponentStats(appid string) openplat.ComponentStats
	Authorize(ctx context.Context, component, authorizer string) (openplat.Push, error)
	Unauthorize(ctx context.Context, component, authorizer string) (openplat.Push, error)
	RevokeAuthorizer(component, authorizer string) bool
	AddAuthorizers(component, prefix string, n int) ([]string, error)
	AuthorizerStats(component string) openplat.AuthorizerStats
	AuthorizeWithPreAuthCode(component, preAuthCode, authorizer string) (string, error)
}

type hooks struct {
	f  Fake
	wx *envelope.Platform // WeChat's envelope
}

// Routes serves the hooks of f on mux, answering in wx's envelope.
func Routes(mux *http.ServeMux, f Fake, wx *envelope.Platform) {
	h := &hooks{f: f, wx: wx}
	h.routes(mux)
	h.componentRoutes(mux)
}

func (h *hooks) writeJSON(w http.ResponseWriter, v any) { h.wx.WriteJSON(w, http.StatusOK, v) }

func (h *hooks) ok(w http.ResponseWriter) { h.writeJSON(w, envelope.OK(map[string]any{})) }

func (h *hooks) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /audit", func(w http.ResponseWriter, _ *http.Request) { h.writeJSON(w, h.f.Audit()) })
	mux.HandleFunc("POST /apps", h.handleAddApp)
	mux.HandleFunc("POST /rotate", h.handleRotate)
	mux.HandleFunc("POST /rotate_ticket", h.handleRotateTicket)
	mux.HandleFunc("GET /check", h.handleCheck)
	mux.HandleFunc("POST /fault", h.handleSetFault)
	mux.HandleFunc("DELETE /fault", func(w http.ResponseWriter, _ *http.Request) {
		h.f.ClearFault()
		h.ok(w)
	})
}

// invalid answers 40097 with reason.
func (h *hooks) invalid(w http.ResponseWriter, format string, args ...any) {
	h.wx.WriteError(w, http.StatusOK, 40097, "invalid args: "+fmt.Sprintf(format, args...))
}

// decodeHook decodes a hook's JSON body into v, or answers 40097.
func (h *hooks) decodeHook(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := envelope.Decode(r, v); err != nil {
		h.invalid(w, "body is not the expected JSON")
		return false
	}
	return true
}

func (h *hooks) handleAddApp(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Platform string `json:"platform"`
		AppID    string `json:"appid"`
		AgentID  string `json:"agentid"`
		Secret   string `json:"secret"`
	}
	if !h.decodeHook(w, r, &b) {
		return
	}
	if b.AppID == "" || b.Secret == "" {
		h.invalid(w, "appid and secret are required")
		return
	}
	var key string
	switch b.Platform {
	case "", ledger.PlatformWeChat:
		h.f.AddApp(b.AppID, b.Secret)
		key = b.AppID
	case ledger.PlatformWeCom:
		if err := h.f.AddWeCom(b.AppID, b.AgentID, b.Secret); err != nil {
			h.invalid(w, "%v", err)
			return
		}
		key = ledger.WeComKey(b.AppID, b.AgentID)
	case ledger.PlatformFeishu:
		h.f.AddFeishu(b.AppID, b.Secret)
		key = ledger.FeishuKey(b.AppID)
	case ledger.PlatformDingTalk:
		h.f.AddDingTalk(b.AppID, b.Secret)
		key = ledger.DingTalkKey(b.AppID)
	default:
		h.invalid(w, "unknown platform %q", b.Platform)
		return
	}
	h.writeJSON(w, envelope.OK(map[string]any{"app": key}))
}

// handleRotate is POST /rotate?app=KEY&endpoint=token|stable_token: an
// out-of-band rotation of an app's token.
func (h *hooks) handleRotate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := q.Get("app")
	if key == "" {
		key = q.Get("appid")
	}
	var tok string
	switch ep := q.Get("endpoint"); ep {
	case ledger.FamilyStable:
		tok = h.f.RotateStable(key)
	case "", ledger.FamilyToken:
		tok = h.f.RotateKey(key)
	default:
		h.invalid(w, "unknown endpoint %q", ep)
		return
	}
	if tok == "" {
		h.wx.Fail(w, 40013)
		return
	}
	life, _ := h.f.Lifetimes()
	h.writeJSON(w, map[string]any{"access_token": tok, "expires_in": ledger.Seconds(life)})
}

func (h *hooks) handleRotateTicket(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := h.f.RotateTicket(q.Get("owner"), q.Get("kind"))
	if v == "" {
		h.wx.WriteError(w, http.StatusOK, 40013, "invalid appid: no such ticket owner and kind")
		return
	}
	_, life := h.f.Lifetimes()
	h.writeJSON(w, map[string]any{"ticket": v, "expires_in": ledger.Seconds(life)})
}

func (h *hooks) handleCheck(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	_, hasTicket := q["ticket"]
	switch {
	case hasTicket && q.Has("access_token"):
		h.invalid(w, "give access_token or ticket, not both")
	case hasTicket:
		h.writeJSON(w, h.f.CheckTicket(q.Get("ticket")))
	default:
		h.writeJSON(w, h.f.CheckToken(q.Get("access_token")))
	}
}

func (h *hooks) handleSetFault(w http.ResponseWriter, r *http.Request) {
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
	if !h.decodeHook(w, r, &b) {
		return
	}
	var delay time.Duration
	if b.Delay != "" {
		var err error
		if delay, err = time.ParseDuration(b.Delay); err != nil || delay < 0 {
			h.invalid(w, "delay %q is not a duration", b.Delay)
			return
		}
	}
	switch known := slices.Contains(h.f.Endpoints(), b.Endpoint); {
	case b.Endpoint != "" && !known:
		h.invalid(w, "unknown endpoint %q", b.Endpoint)
		return
	case b.Probability < 0 || b.Probability > 1:
		h.invalid(w, "probability must be in [0, 1]")
		return
	case b.HTTPStatus != 0 && (b.HTTPStatus < 200 || b.HTTPStatus > 599):
		h.invalid(w, "http_status %d", b.HTTPStatus)
		return
	}
	h.f.SetFault(fault.Fault{
		Errcode: b.Errcode, Errmsg: b.Errmsg, Probability: b.Probability, HTTPStatus: b.HTTPStatus,
		Delay: delay, Body: b.Body, ContentType: b.ContentType, Remaining: b.Remaining, Endpoint: b.Endpoint,
	})
	h.ok(w)
}

// componentRoutes serves the Open Platform's hooks.
func (h *hooks) componentRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /components", h.handleAddComponent)
	mux.HandleFunc("POST /components/push", func(w http.ResponseWriter, r *http.Request) {
		p, err := h.f.PushTicket(r.Context(), r.URL.Query().Get("appid"))
		h.answerPush(w, p, err)
	})
	mux.HandleFunc("POST /components/replay", func(w http.ResponseWriter, r *http.Request) {
		back, _ := strconv.Atoi(r.URL.Query().Get("back"))
		p, err := h.f.ReplayPush(r.Context(), r.URL.Query().Get("appid"), back)
		h.answerPush(w, p, err)
	})
	mux.HandleFunc("POST /components/stop", func(w http.ResponseWriter, r *http.Request) {
		h.f.StopPushes(r.URL.Query().Get("appid"))
		h.ok(w)
	})
	mux.HandleFunc("POST /components/expire_tickets", func(w http.ResponseWriter, r *http.Request) {
		h.f.ExpireVerifyTickets(r.URL.Query().Get("appid"))
		h.ok(w)
	})
	mux.HandleFunc("GET /components/stats", func(w http.ResponseWriter, r *http.Request) {
		h.writeJSON(w, h.f.ComponentStats(r.URL.Query().Get("appid")))
	})
	mux.HandleFunc("POST /components/authorize", func(w http.ResponseWriter, r *http.Request) {
		p, err := h.f.Authorize(r.Context(), r.URL.Query().Get("appid"), r.URL.Query().Get("authorizer"))
		h.answerPush(w, p, err)
	})
	mux.HandleFunc("POST /components/unauthorize", func(w http.ResponseWriter, r *http.Request) {
		p, err := h.f.Unauthorize(r.Context(), r.URL.Query().Get("appid"), r.URL.Query().Get("authorizer"))
		h.answerPush(w, p, err)
	})
	mux.HandleFunc("POST /components/revoke", func(w http.ResponseWriter, r *http.Request) {
		ok := h.f.RevokeAuthorizer(r.URL.Query().Get("appid"), r.URL.Query().Get("authorizer"))
		h.writeJSON(w, envelope.OK(map[string]any{"revoked": ok}))
	})
	mux.HandleFunc("POST /components/authorizers", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 || n > 100_000 || q.Get("prefix") == "" {
			h.invalid(w, "n must be 0..100000 and prefix set")
			return
		}
		ids, err := h.f.AddAuthorizers(q.Get("appid"), q.Get("prefix"), n)
		if err != nil {
			h.invalid(w, "%v", err)
			return
		}
		h.writeJSON(w, envelope.OK(map[string]any{"added": len(ids)}))
	})
	mux.HandleFunc("GET /components/authorizer_stats", func(w http.ResponseWriter, r *http.Request) {
		h.writeJSON(w, h.f.AuthorizerStats(r.URL.Query().Get("appid")))
	})
	mux.HandleFunc("POST /components/authorize_code", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code, err := h.f.AuthorizeWithPreAuthCode(q.Get("appid"), q.Get("pre_auth_code"), q.Get("authorizer"))
		if err != nil {
			h.invalid(w, "%v", err)
			return
		}
		h.writeJSON(w, envelope.OK(map[string]any{"auth_code": code, "expires_in": 3600}))
	})
}

func (h *hooks) answerPush(w http.ResponseWriter, p openplat.Push, err error) {
	if err != nil {
		h.invalid(w, "%v", err)
		return
	}
	h.writeJSON(w, envelope.OK(map[string]any{
		"create_time": p.CreateTime, "url": p.URL, "status": p.Status, "body": p.Body, "error": p.Err,
	}))
}

func (h *hooks) handleAddComponent(w http.ResponseWriter, r *http.Request) {
	var b struct {
		AppID          string   `json:"appid"`
		Secret         string   `json:"secret"`
		Token          string   `json:"token"`
		EncodingAESKey string   `json:"encoding_aes_key"`
		CallbackURLs   []string `json:"callback_urls"`
		PushEvery      string   `json:"push_every"`
		TicketLifetime string   `json:"ticket_lifetime"`
	}
	if !h.decodeHook(w, r, &b) {
		return
	}
	if b.AppID == "" || b.Secret == "" || len(b.CallbackURLs) == 0 {
		h.invalid(w, "appid, secret and callback_urls are required")
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
			h.invalid(w, "%s %q is not a duration", d.name, d.v)
			return
		}
		*d.p = v
	}
	err := h.f.AddComponent(openplat.Component{
		AppID: b.AppID, Secret: b.Secret, Token: b.Token, EncodingAESKey: b.EncodingAESKey,
		CallbackURLs: b.CallbackURLs, PushEvery: every, TicketLifetime: life,
	})
	if err != nil {
		h.invalid(w, "%v", err)
		return
	}
	h.writeJSON(w, envelope.OK(map[string]any{"app": b.AppID}))
}
