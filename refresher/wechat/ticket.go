package wechat

import (
	"net/url"

	"github.com/tokend/tokend/refresher/upstream"
)

// ticketKinds: GET /cgi-bin/ticket/getticket?access_token=&type=<kind>
// (https://developers.weixin.qq.com/doc/service/api/invoice/auth/api_getticket.html).
var ticketKinds = []upstream.TicketKind{ticketKind("jsapi"), ticketKind("wx_card")}

func ticketKind(kind string) upstream.TicketKind {
	return upstream.TicketKind{Kind: kind, Call: upstream.Call{
		Op: "getticket", Path: "/cgi-bin/ticket/getticket", Query: url.Values{"type": {kind}}, Shape: ticketShape,
	}}
}

// TicketKinds are the JS-SDK ticket kinds of an Official Account, in
// README order: "jsapi" (wx.config) and "wx_card" (card APIs). Changing
// it changes nothing: NewTicket checks its own copy.
var TicketKinds = upstream.KindNames(ticketKinds)

// TicketConfig configures a ticket provider: Kind ("jsapi" or "wx_card"),
// BaseURL (default DefaultBaseURL), HTTPClient, MinExpiresIn.
type TicketConfig = upstream.TicketConfig

// Ticket fetches a JS-SDK ticket, GET /cgi-bin/ticket/getticket, with the
// parent access token (FetchRequest.ParentToken). WeChat answers
// {"errcode":0,"errmsg":"ok","ticket":"...","expires_in":7200} and returns
// the same ticket until it expires (Repeat is RepeatSameFirstSeen). A
// refused token (40001, 40014, 42001, 41001) is a ClassTokenRejected
// error. Safe for concurrent use.
type Ticket = upstream.Ticket

// NewTicket validates cfg and returns a ticket provider (no I/O); cfg is
// copied. Errors are *FieldError.
func NewTicket(cfg TicketConfig) (*Ticket, error) {
	return upstream.NewTicket(provider, DefaultBaseURL, cfg, ticketKinds)
}

// Prober checks a stored access token with GET /cgi-bin/getcallbackip
// (answer {"ip_list":[...]},
// https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_the_WeChat_server_IP_address.html),
// an authenticated call that costs nothing.
// It implements upstream.Prober and is safe for concurrent use.
type Prober = upstream.TokenProber

// NewProber validates cfg like NewClassic (no I/O) and returns a prober;
// only BaseURL, HTTPClient and AppID (for String) are used.
func NewProber(cfg Config) (*Prober, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	call := upstream.Call{Op: "getcallbackip", Path: "/cgi-bin/getcallbackip", Shape: probeShape}
	return upstream.NewTokenProber("wechat.Prober("+cfg.AppID+")", c.up, call), nil
}
