package wechattest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ticket is one JS-SDK ticket. Fields are guarded by Server.mu.
type ticket struct {
	value     string
	platform  string
	owner     string // app key, or the corp key for a WeCom jsapi ticket
	kind      string
	expiresAt time.Time
	killedAt  time.Time // rotated out of band: dead from then on; zero if not
}

func (s *Server) ticketStateLocked(now time.Time, t *ticket) int {
	switch {
	case !now.Before(t.expiresAt):
		return CodeExpired
	case !t.killedAt.IsZero() && !now.Before(t.killedAt):
		return CodeNotLatest
	}
	return CodeOK
}

// ticketLocked returns the live ticket of owner for kind, issuing one if
// there is none, and the expires_in to answer.
func (s *Server) ticketLocked(now time.Time, platform, owner, kind string) (string, int) {
	t := s.tickets[owner+"/"+kind]
	if t == nil || s.ticketStateLocked(now, t) != CodeOK {
		t = s.issueTicketLocked(now, platform, owner, kind)
	}
	left := s.cfg.TicketLifetime
	if s.cfg.TicketRemainingExpiresIn {
		left = t.expiresAt.Sub(now)
	}
	return t.value, seconds(left)
}

func (s *Server) issueTicketLocked(now time.Time, platform, owner, kind string) *ticket {
	s.countIssueLocked(now)
	t := &ticket{
		value:     randomString(64), // 86 characters, like real tickets
		platform:  platform,
		owner:     owner,
		kind:      kind,
		expiresAt: now.Add(s.cfg.TicketLifetime),
	}
	s.tickets[owner+"/"+kind] = t
	s.byValue[t.value] = t
	s.audit.TicketsIssued[owner+"/"+kind]++
	return t
}

// ticketOwnerLocked is who the ticket of kind fetched by the app with key
// belongs to: its corp for a WeCom jsapi ticket, else the app itself.
func (s *Server) ticketOwnerLocked(key, kind string) string {
	if h := s.held[key]; h != nil && h.corp != nil && kind == KindJSAPI {
		return WeComCorpKey(h.corp.id)
	}
	return key
}

// ticketPlatformLocked returns the platform of a ticket of kind owned by
// owner, or "" if no such ticket can exist.
func (s *Server) ticketPlatformLocked(owner, kind string) string {
	if _, ok := s.apps[owner]; ok && (kind == KindJSAPI || kind == KindWxCard) {
		return PlatformWeChat
	}
	if h, ok := s.held[owner]; ok {
		switch {
		case h.platform == PlatformWeCom && kind == KindAgentConfig,
			h.platform == PlatformDingTalk && kind == KindJSAPI:
			return h.platform
		}
	}
	if id, ok := strings.CutPrefix(owner, PlatformWeCom+":"); ok && kind == KindJSAPI && s.corps[id] != nil {
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
	key, state := s.authorizeLocked(now, p.name, tok)
	if state != CodeOK {
		s.mu.Unlock()
		p.reject(w, state)
		return
	}
	code := p.badArg
	if kind != "" {
		code = s.ticketLimitLocked(now, key, kind)
	}
	if code != 0 {
		s.audit.Errors[ep+"/"+strconv.Itoa(code)]++
		s.mu.Unlock()
		p.fail(w, code)
		return
	}
	tk, exp := s.ticketLocked(now, p.name, s.ticketOwnerLocked(key, kind), kind)
	s.audit.Tickets[key+"/"+kind]++
	s.mu.Unlock()
	p.writeJSON(w, http.StatusOK, okBody(map[string]any{"ticket": tk, "expires_in": exp}))
}

// ticketLimitLocked takes one ticket call of kind for the app with key
// from its hourly limits, or returns 45009 (a refused call is not
// counted). Only WeCom apps have limits.
func (s *Server) ticketLimitLocked(now time.Time, key, kind string) int {
	h := s.held[key]
	if h == nil || h.corp == nil {
		return 0
	}
	app, corp := h.window(kind), h.corp.window(kind)
	if !app.allows(now, s.cfg.WeComAppTicketHourly) || !corp.allows(now, s.cfg.WeComCorpTicketHourly) {
		return codeDailyQuota
	}
	app.add(now, s.cfg.WeComAppTicketHourly)
	corp.add(now, s.cfg.WeComCorpTicketHourly)
	return 0
}

// window holds the times of the calls accepted in the last hour, oldest
// first: a sliding limit, stricter than clock hours.
type window struct{ calls []time.Time }

// allows drops calls older than an hour and reports whether one more fits
// under limit (negative: no limit).
func (w *window) allows(now time.Time, limit int) bool {
	i := 0
	for i < len(w.calls) && now.Sub(w.calls[i]) >= time.Hour {
		i++
	}
	w.calls = w.calls[i:]
	return limit < 0 || len(w.calls) < limit
}

func (w *window) add(now time.Time, limit int) {
	if limit >= 0 {
		w.calls = append(w.calls, now)
	}
}

// CheckTicket says whether v is the live ticket, and whose ticket of which
// platform and kind it is. It does not count in the audit.
func (s *Server) CheckTicket(v string) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == "" {
		return Status{Code: CodeMissing}
	}
	t, ok := s.byValue[v]
	if !ok {
		return Status{Code: CodeIllegal}
	}
	return Status{
		Code:      s.ticketStateLocked(s.now(), t),
		Platform:  t.platform,
		App:       t.owner,
		Kind:      t.kind,
		ExpiresAt: t.expiresAt,
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
	now := s.now()
	if t := s.tickets[owner+"/"+kind]; t != nil && t.killedAt.IsZero() {
		t.killedAt = now
	}
	s.audit.OutOfBand[owner+"/"+kind]++
	return s.issueTicketLocked(now, platform, owner, kind).value
}
