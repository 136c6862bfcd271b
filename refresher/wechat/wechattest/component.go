package wechattest

import (
	"context"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/openplat"
)

// The Open Platform (third-party platform, 第三方平台): a Component gets
// component_verify_ticket pushes, encrypted with msgcrypt, POSTed to its
// callback URLs (one picked at random per push) every PushEvery, and
// answers POST /cgi-bin/component/api_component_token with a new token
// per call (the classic token's rules: the previous one keeps working for
// Config.Overlap) for a ticket it pushed: 61006 for one it never pushed,
// 61005 for one past its TicketLifetime (or expired with
// ExpireVerifyTickets). POST /cgi-bin/component/api_start_push_ticket
// resumes stopped pushes and pushes one at once. The state and the pushes
// are kept by internal/openplat; the HTTP API is in component_http.go.
//
// Authorizers, their tokens, authorization events and the authorizer
// list are in authorizers.go.

// Open Platform errcodes.
const (
	CodeTicketExpired = 61005
	CodeTicketInvalid = 61006
)

// Component registers an Open Platform third-party platform: AppID,
// Secret; Token and EncodingAESKey, which encrypt and sign the pushes;
// CallbackURLs, which receive the pushes (one picked at random per push);
// PushEvery, the interval of automatic pushes in real time (0: pushes only
// by PushTicket); TicketLifetime, a verify ticket's validity on
// Config.Clock (default 12 h).
type Component = openplat.Component

// Push is one push sent to a callback: the Ticket or the
// AuthorizationCode it carried, CreateTime, URL, and the callback's answer
// (Status and Body; 0 and "" when the request failed, Err says why).
type Push = openplat.Push

// ComponentStats counts what a component's fake saw and did.
type ComponentStats = openplat.ComponentStats

// component is the state of one Component, guarded by Server.mu.
type component = openplat.State

// ErrUnknownComponent: no component with that appid.
var ErrUnknownComponent = openplat.ErrUnknownComponent

// AddComponent registers c (replacing one with the same AppID) and starts
// its automatic pushes if PushEvery > 0.
func (s *Server) AddComponent(c Component) error { return s.open.Add(c) }

// PushTicket issues a new verify ticket for appid and pushes it now to one
// of its callback URLs. The returned error is only for an unknown
// component; a failed delivery is in Push.Err and Push.Status.
func (s *Server) PushTicket(ctx context.Context, appid string) (Push, error) {
	return s.open.PushTicket(ctx, appid)
}

// ReplayPush sends the push back pushes ago (1: the last one) again,
// byte for byte, to the same URL: what an attacker or a retrying network
// does. It returns the push as answered.
func (s *Server) ReplayPush(ctx context.Context, appid string, back int) (Push, error) {
	return s.open.ReplayPush(ctx, appid, back)
}

// StartPushes starts automatic pushes of appid every PushEvery (no-op if
// they run, or PushEvery is 0). They end with StopPushes or Close.
func (s *Server) StartPushes(appid string) { s.open.StartPushes(appid) }

// closingContext is a context cancelled when the server closes (or
// cancel is called).
func (s *Server) closingContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.done:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx, cancel
}

// StopPushes stops appid's automatic pushes (api_start_push_ticket starts
// them again).
func (s *Server) StopPushes(appid string) { s.open.StopPushes(appid) }

// ExpireVerifyTickets makes every verify ticket issued to appid so far
// answer 61005.
func (s *Server) ExpireVerifyTickets(appid string) { s.open.ExpireVerifyTickets(appid) }

// ComponentStats returns appid's counters (zero for an unknown one).
func (s *Server) ComponentStats(appid string) ComponentStats { return s.open.Stats(appid) }

// CurrentComponentToken is the newest component_access_token of appid
// ("" if none).
func (s *Server) CurrentComponentToken(appid string) string { return s.open.CurrentToken(appid) }
