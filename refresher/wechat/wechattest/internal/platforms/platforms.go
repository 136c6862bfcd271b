// Package platforms serves the token endpoints of the fake upstream
// (package wechattest): WeChat's classic and stable tokens and
// clear_quota, and the held tokens of WeCom, Feishu and DingTalk (the same
// token while it is valid), with the routes of those three platforms'
// tickets and probes, which it hands to the Host.
//
// The handlers keep no state of their own: the books (ledger) are guarded
// by the Locker given to Routes (the Server's mutex), taken per request
// and never held during I/O. Quotas, expiry and rotation are the ledger's
// decisions; this package parses requests, authenticates apps and answers
// in each platform's envelope.
package platforms

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

// Endpoint names: keys of Audit.Errors and Audit.Probes, and values of
// Fault.Endpoint.
const (
	Token       = ledger.FamilyToken
	Stable      = ledger.FamilyStable
	StableForce = "stable_token_force" // audit key only
	CallbackIP  = "getcallbackip"
	Ticket      = "getticket"
	ClearQuota  = "clear_quota"

	WeComToken     = "wecom/gettoken"
	WeComJSAPI     = "wecom/get_jsapi_ticket"
	WeComAgent     = "wecom/ticket/get"
	WeComDomainIP  = "wecom/get_api_domain_ip"
	FeishuToken    = "feishu/tenant_access_token"
	FeishuIP       = "feishu/outbound_ip"
	DingTalkToken  = "dingtalk/gettoken"
	DingTalkTicket = "dingtalk/get_jsapi_ticket"
	DingTalkCount  = "dingtalk/user/count"
)

// Ticket kinds.
const (
	KindJSAPI       = "jsapi"        // WeChat, WeCom (corp ticket), DingTalk
	KindWxCard      = "wx_card"      // WeChat
	KindAgentConfig = "agent_config" // WeCom (app ticket)
)

// Config is what the handlers need of wechattest.Config.
type Config struct {
	WeComExtend        bool          // a WeCom gettoken repeat extends the token's life
	DingTalkExtend     bool          // a DingTalk gettoken repeat extends the token's life
	FeishuRotateWindow time.Duration // a Feishu call with less left gets a new token
}

// Host is what the handlers hand to the fake (wechattest.Server).
type Host interface {
	// ApplyFault applies the fault for endpoint, if any, and reports
	// whether the request has been answered.
	ApplyFault(w http.ResponseWriter, r *http.Request, endpoint string) bool
	// ServeTicket answers a ticket call of endpoint made with tok for
	// kind ("": an invalid type).
	ServeTicket(w http.ResponseWriter, r *http.Request, endpoint, tok, kind string)
	// ServeProbe answers a cheap protected call of endpoint with tok.
	ServeProbe(w http.ResponseWriter, r *http.Request, endpoint, tok string, body any)
}

type handlers struct {
	mu    sync.Locker
	books *ledger.Ledger
	env   map[string]*envelope.Platform // by platform name
	host  Host
	cfg   Config
}

// Routes serves the token endpoints on mux. mu guards books; env holds
// the platforms' envelopes by name.
func Routes(mux *http.ServeMux, mu sync.Locker, books *ledger.Ledger, env map[string]*envelope.Platform, host Host, cfg Config) {
	h := &handlers{mu: mu, books: books, env: env, host: host, cfg: cfg}
	h.wechatRoutes(mux)
	h.wecomRoutes(mux)
	h.feishuRoutes(mux)
	h.dingtalkRoutes(mux)
}

// auditErrorLocked counts errcode code answered by endpoint.
func (h *handlers) auditErrorLocked(endpoint string, code int) {
	h.books.Audit().Errors[endpoint+"/"+strconv.Itoa(code)]++
}

// fetchHeld answers a token call of a held-token platform at endpoint ep:
// auth finds the app (or returns the errcode to answer), called with the
// lock held; then the token follows p. Errors and fetches are audited.
func (h *handlers) fetchHeld(ep string, auth func() (*ledger.Held, int), p ledger.HoldPolicy) (string, int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	app, code := auth()
	if code != 0 {
		h.auditErrorLocked(ep, code)
		return "", 0, code
	}
	tok, left := h.books.Hold(h.books.Now(), &app.Token, app.Platform, app.Key, Token, p)
	h.books.Audit().CountFetch(app.Key, Token)
	return tok, ledger.Seconds(left), 0
}

// serveHeld answers a token call of a held-token platform pl at endpoint
// ep (see fetchHeld); answer builds the success body.
func (h *handlers) serveHeld(w http.ResponseWriter, pl, ep string, auth func() (*ledger.Held, int), p ledger.HoldPolicy,
	answer func(tok string, expiresIn int) any,
) {
	tok, expiresIn, code := h.fetchHeld(ep, auth, p)
	env := h.env[pl]
	if code != 0 {
		env.Fail(w, code)
		return
	}
	env.WriteJSON(w, http.StatusOK, answer(tok, expiresIn))
}
