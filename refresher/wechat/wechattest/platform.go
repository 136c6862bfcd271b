package wechattest

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Platforms served by the fake. Status.Platform carries these names.
const (
	PlatformWeChat   = "wechat"
	PlatformWeCom    = "wecom"
	PlatformFeishu   = "feishu"
	PlatformDingTalk = "dingtalk"
)

// Ticket kinds.
const (
	KindJSAPI       = "jsapi"        // WeChat, WeCom (corp ticket), DingTalk
	KindWxCard      = "wx_card"      // WeChat
	KindAgentConfig = "agent_config" // WeCom (app ticket)
)

// App keys name an app in the audit, in Status and in the HTTP hooks. A
// WeChat account's key is its appid; the other platforms' keys are
// prefixed with the platform, so the same id on two platforms names two
// apps.

// WeComKey is the key of WeCom app agentid of corp corpid.
func WeComKey(corpid, agentid string) string { return PlatformWeCom + ":" + corpid + ":" + agentid }

// WeComCorpKey is the key of corp corpid, the owner of its jsapi ticket.
func WeComCorpKey(corpid string) string { return PlatformWeCom + ":" + corpid }

// FeishuKey is the key of Feishu app appID.
func FeishuKey(appID string) string { return PlatformFeishu + ":" + appID }

// DingTalkKey is the key of DingTalk app appKey.
func DingTalkKey(appKey string) string { return PlatformDingTalk + ":" + appKey }

// platform is how one platform answers: its envelope, messages and the
// errcodes it uses to refuse a token.
type platform struct {
	name        string
	contentType string
	messages    map[int]string // errmsg texts by errcode
	// rejects maps a token state (CodeNotLatest, CodeIllegal, CodeExpired,
	// CodeMissing) to the errcode answered for it; absent: the state.
	rejects map[int]int
	// rejectStatus is the HTTP status of a token refusal.
	rejectStatus int
	// badArg is the errcode for an invalid parameter (a ticket type).
	badArg int
	// errBody builds an error answer.
	errBody func(code int, msg string) any
}

func (p *platform) writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		body = []byte(`{"errcode":-1,"errmsg":"fake: encode answer"}`)
	}
	w.Header().Set("Content-Type", p.contentType)
	w.WriteHeader(status)
	_, _ = w.Write(body) // no trailing newline, like the real APIs (co-wechat-api refuses one)
}

// writeError answers the platform's error envelope; msg defaults to the
// platform's text for code.
func (p *platform) writeError(w http.ResponseWriter, status, code int, msg string) {
	if msg == "" {
		msg = p.messages[code]
		if msg == "" {
			msg = "error"
		}
	}
	p.writeJSON(w, status, p.errBody(code, msg))
}

// fail answers errcode code with HTTP 200.
func (p *platform) fail(w http.ResponseWriter, code int) { p.writeError(w, http.StatusOK, code, "") }

// reject refuses a token in state (a Code* value other than CodeOK).
func (p *platform) reject(w http.ResponseWriter, state int) {
	code := state
	if c, ok := p.rejects[state]; ok {
		code = c
	}
	p.writeError(w, p.rejectStatus, code, "")
}

// okBody is the success envelope of WeCom and DingTalk, merged into v.
func okBody(v map[string]any) map[string]any {
	v["errcode"] = 0
	v["errmsg"] = "ok"
	return v
}

func newPlatforms(cfg Config) map[string]*platform {
	return map[string]*platform{
		PlatformWeChat: {
			name: PlatformWeChat, contentType: jsonContentType, messages: messages,
			rejectStatus: http.StatusOK, badArg: 40097,
			errBody: func(code int, msg string) any {
				return map[string]any{"errcode": code, "errmsg": msg + " rid: " + newRID()}
			},
		},
		PlatformWeCom: {
			name: PlatformWeCom, contentType: "application/json; charset=UTF-8", messages: wecomMessages,
			rejects:      map[int]int{CodeNotLatest: cfg.WeComInvalidatedErrcode},
			rejectStatus: http.StatusOK, badArg: 40058,
			errBody: func(code int, msg string) any {
				return map[string]any{"errcode": code, "errmsg": fmt.Sprintf(
					"%s, hint: [%s], more info at https://open.work.weixin.qq.com/devtool/query?e=%d", msg, newRID(), code)}
			},
		},
		PlatformFeishu: {
			name: PlatformFeishu, contentType: "application/json; charset=utf-8", messages: feishuMessages,
			rejects: map[int]int{
				CodeMissing: feishuMissingToken, CodeIllegal: feishuInvalidToken,
				CodeNotLatest: feishuInvalidToken, CodeExpired: feishuInvalidToken,
			},
			rejectStatus: cfg.FeishuAuthErrorStatus, badArg: feishuInvalidParam,
			errBody: func(code int, msg string) any { return map[string]any{"code": code, "msg": msg} },
		},
		PlatformDingTalk: {
			name: PlatformDingTalk, contentType: "application/json;charset=utf-8", messages: dingtalkMessages,
			rejects:      map[int]int{CodeNotLatest: CodeIllegal},
			rejectStatus: http.StatusOK, badArg: 40035,
			errBody: func(code int, msg string) any { return map[string]any{"errcode": code, "errmsg": msg} },
		},
	}
}

// Endpoint names: keys of Audit.Errors and Audit.Probes, and values of
// Fault.Endpoint.
const (
	epToken       = "token"
	epStable      = "stable_token"
	epStableForce = "stable_token_force" // audit key only
	epCallbackIP  = "getcallbackip"
	epTicket      = "getticket"
	epClearQuota  = "clear_quota"

	epWeComToken     = "wecom/gettoken"
	epWeComJSAPI     = "wecom/get_jsapi_ticket"
	epWeComAgent     = "wecom/ticket/get"
	epWeComDomainIP  = "wecom/get_api_domain_ip"
	epFeishuToken    = "feishu/tenant_access_token"
	epFeishuIP       = "feishu/outbound_ip"
	epDingTalkToken  = "dingtalk/gettoken"
	epDingTalkTicket = "dingtalk/get_jsapi_ticket"
	epDingTalkCount  = "dingtalk/user/count"
)

// endpoint describes one served endpoint.
type endpoint struct {
	platform *platform
	token    bool // a token endpoint: selected by Fault.Endpoint ""
}

func newEndpoints(ps map[string]*platform) map[string]endpoint {
	wx, wc, fs, dt := ps[PlatformWeChat], ps[PlatformWeCom], ps[PlatformFeishu], ps[PlatformDingTalk]
	return map[string]endpoint{
		epToken:          {wx, true},
		epStable:         {wx, true},
		epCallbackIP:     {wx, false},
		epTicket:         {wx, false},
		epClearQuota:     {wx, false},
		epWeComToken:     {wc, true},
		epWeComJSAPI:     {wc, false},
		epWeComAgent:     {wc, false},
		epWeComDomainIP:  {wc, false},
		epFeishuToken:    {fs, true},
		epFeishuIP:       {fs, false},
		epDingTalkToken:  {dt, true},
		epDingTalkTicket: {dt, false},
		epDingTalkCount:  {dt, false},
	}
}
