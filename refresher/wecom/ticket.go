package wecom

import (
	"net/url"

	"github.com/tokend/tokend/refresher/upstream"
)

// The answers of WeCom's endpoints: errcode/errmsg always present, HTTP
// 200 for errors too.
var (
	tokenShape  = upstream.ErrcodeShape("access_token", Classify)
	ticketShape = upstream.ErrcodeShape("ticket", ClassifyWithToken)
	probeShape  = upstream.ErrcodeShape("", ClassifyWithToken)
)

// Classify maps a WeCom gettoken errcode to a refresher class. Codes from
// WeCom's global error codes, https://developer.work.weixin.qq.com/document/path/90313
// (as mirrored by WxJava's WxCpErrorMsgEnum):
//   - ClassConfig: 40001 (invalid secret: on gettoken it means the
//     corpsecret, not a token), 40013 (invalid corpid), 40091 (secret of
//     another corp), 41002/41004 (corpid/secret missing), 60020 (caller IP
//     not allowed), 48002 (API not permitted), 48006 (permission revoked,
//     the admin must re-enable the app), 50003 (app disabled);
//   - ClassRetry: -1 (busy), 45009 and 45033 (call frequency and
//     concurrency limits: WeCom counts per minute and per hour, there is
//     no daily quota to wait for), and every code it does not know.
func Classify(code int) upstream.Class {
	switch code {
	case 40001, 40013, 40091, 41002, 41004, 60020, 48002, 48006, 50003:
		return upstream.ClassConfig
	}
	return upstream.ClassRetry
}

// ClassifyWithToken maps the errcode of a call made with an access token
// (a ticket fetch, a probe): ClassTokenRejected for 40014 (invalid
// token), 42001 (expired) and 41001 (missing); otherwise as Classify.
func ClassifyWithToken(code int) upstream.Class {
	switch code {
	case 40014, 42001, 41001:
		return upstream.ClassTokenRejected
	}
	return Classify(code)
}

// ticketKinds: https://developer.work.weixin.qq.com/document/path/96909
// ("JS-SDK 签名算法": 获取企业/应用 jsapi_ticket).
var ticketKinds = []upstream.TicketKind{
	{Kind: "jsapi", Call: upstream.Call{Op: "get_jsapi_ticket", Path: "/cgi-bin/get_jsapi_ticket", Shape: ticketShape}},
	{Kind: "agent_config", Call: upstream.Call{Op: "ticket/get", Path: "/cgi-bin/ticket/get", Query: url.Values{"type": {"agent_config"}}, Shape: ticketShape}},
}

// TicketKinds are WeCom's JS-SDK ticket kinds, in README order: "jsapi"
// (the corp ticket, for wx.config) and "agent_config" (the app ticket, for
// wx.agentConfig). Changing it changes nothing: NewTicket checks its own
// copy.
var TicketKinds = upstream.KindNames(ticketKinds)

// TicketConfig configures a ticket provider: Kind ("jsapi" or
// "agent_config"), BaseURL (default DefaultBaseURL), HTTPClient,
// MinExpiresIn.
type TicketConfig = upstream.TicketConfig

// Ticket fetches a JS-SDK ticket with the parent access token
// (FetchRequest.ParentToken): the corp ticket (GET
// /cgi-bin/get_jsapi_ticket) or the app ticket (GET
// /cgi-bin/ticket/get?type=agent_config). Both live 7200 s and a repeat
// call returns the same ticket (Repeat is RepeatSameFirstSeen). A refused
// token (40014, 42001, 41001) is a ClassTokenRejected error. Safe for
// concurrent use.
type Ticket = upstream.Ticket

// NewTicket validates cfg and returns a ticket provider (no I/O); cfg is
// copied. Errors are *upstream.FieldError.
func NewTicket(cfg TicketConfig) (*Ticket, error) {
	return upstream.NewTicket(provider, DefaultBaseURL, cfg, ticketKinds)
}

// Prober checks a stored access token with GET
// /cgi-bin/get_api_domain_ip, a cheap authenticated call
// (https://developer.work.weixin.qq.com/document/path/92520). It
// implements upstream.Prober and is safe for concurrent use.
type Prober = upstream.TokenProber

// NewProber validates cfg like New (no I/O) and returns a prober.
func NewProber(cfg Config) (*Prober, error) {
	c, err := upstream.NewCaller(cfg.callerConfig())
	if err != nil {
		return nil, err
	}
	call := upstream.Call{Op: "get_api_domain_ip", Path: "/cgi-bin/get_api_domain_ip", Shape: probeShape}
	return upstream.NewTokenProber("wecom.Prober("+cfg.CorpID+")", c, call), nil
}
