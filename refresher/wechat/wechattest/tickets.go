package wechattest

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

// ticketOwnerLocked is who the ticket of kind fetched by the app with key
// belongs to: its corp for a WeCom jsapi ticket, else the app itself.
func (s *Server) ticketOwnerLocked(key, kind string) string {
	if h := s.books.Held[key]; h != nil && h.Corp != nil && kind == KindJSAPI {
		return WeComCorpKey(h.Corp.ID)
	}
	return key
}

// ticketPlatformLocked returns the platform of a ticket of kind owned by
// owner, or "" if no such ticket can exist.
func (s *Server) ticketPlatformLocked(owner, kind string) string {
	if _, ok := s.books.Apps[owner]; ok && (kind == KindJSAPI || kind == KindWxCard) {
		return PlatformWeChat
	}
	if h, ok := s.books.Held[owner]; ok {
		switch {
		case h.Platform == PlatformWeCom && kind == KindAgentConfig,
			h.Platform == PlatformDingTalk && kind == KindJSAPI:
			return h.Platform
		}
	}
	if id, ok := strings.CutPrefix(owner, PlatformWeCom+":"); ok && kind == KindJSAPI && s.books.Corps[id] != nil {
		return PlatformWeCom
	}
	return ""
}

// serveTicket answers a ticket call of endpoint ep made with tok for kind;
// kind "" is an invalid type, answered with the platform's badArg once the
// token is accepted.
func (s *Server) serveTicket(w http.ResponseWriter, r *http.Request, ep, tok, kind string) {
	if s.applyFault(w, r, ep) {
		return
	}
	p := s.endpoints[ep].platform
	s.mu.Lock()
	now := s.now()
	key, state := s.authorizeLocked(now, p.Name, tok)
	if state != CodeOK {
		s.mu.Unlock()
		p.Reject(w, state)
		return
	}
	code := p.BadArg
	if kind != "" {
		code = s.ticketLimitLocked(now, key, kind)
	}
	if code != 0 {
		s.audit.Errors[ep+"/"+strconv.Itoa(code)]++
		s.mu.Unlock()
		p.Fail(w, code)
		return
	}
	tk, exp := s.books.LiveTicket(now, p.Name, s.ticketOwnerLocked(key, kind), kind)
	s.audit.Tickets[key+"/"+kind]++
	s.mu.Unlock()
	p.WriteJSON(w, http.StatusOK, okBody(map[string]any{"ticket": tk, "expires_in": exp}))
}

// ticketLimitLocked takes one ticket call of kind for the app with key
// from its hourly limits, or returns 45009 (a refused call is not
// counted). Only WeCom apps have limits.
func (s *Server) ticketLimitLocked(now time.Time, key, kind string) int {
	h := s.books.Held[key]
	if h == nil || h.Corp == nil {
		return 0
	}
	app, corp := h.Window(kind), h.Corp.Window(kind)
	if !app.Allows(now, s.cfg.WeComAppTicketHourly) || !corp.Allows(now, s.cfg.WeComCorpTicketHourly) {
		return codeDailyQuota
	}
	app.Add(now, s.cfg.WeComAppTicketHourly)
	corp.Add(now, s.cfg.WeComCorpTicketHourly)
	return 0
}

// CheckTicket says whether v is the live ticket, and whose ticket of which
// platform and kind it is. It does not count in the audit.
func (s *Server) CheckTicket(v string) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == "" {
		return Status{Code: CodeMissing}
	}
	t, ok := s.books.TicketByValue(v)
	if !ok {
		return Status{Code: CodeIllegal}
	}
	return Status{
		Code:      ledger.TicketState(s.now(), t),
		Platform:  t.Platform,
		App:       t.Owner,
		Kind:      t.Kind,
		ExpiresAt: t.ExpiresAt,
	}
}

// RotateTicket simulates the platform replacing the ticket of kind owned
// by owner (an app key; WeComCorpKey for a WeCom jsapi ticket) out of
// band: the live ticket dies at once and a new one is issued. It returns
// the new ticket, or "" when owner has no tickets of kind.
func (s *Server) RotateTicket(owner, kind string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	platform := s.ticketPlatformLocked(owner, kind)
	if platform == "" {
		return ""
	}
	s.audit.OutOfBand[owner+"/"+kind]++
	return s.books.RotateTicket(s.now(), platform, owner, kind)
}
