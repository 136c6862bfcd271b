package wechattest

import (
	"net/http"
	"strconv"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

// heldApp is an app of a platform that hands out the same token while it
// is valid (WeCom, Feishu, DingTalk). Fields are guarded by Server.mu.
type heldApp = ledger.Held

// holdPolicy says when a held token is replaced and what a repeat does.
type holdPolicy = ledger.HoldPolicy

// fetchHeld answers a token call of a held-token platform at endpoint ep:
// auth finds the app (or returns the errcode to answer), called with the
// lock held; then the token follows p. Errors and fetches are audited.
func (s *Server) fetchHeld(ep string, auth func() (*heldApp, int), p holdPolicy) (string, int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, code := auth()
	if code != 0 {
		s.audit.Errors[ep+"/"+strconv.Itoa(code)]++
		return "", 0, code
	}
	tok, left := s.books.Hold(s.now(), &h.Token, h.Platform, h.Key, epToken, p)
	s.countFetchLocked(h.Key, epToken)
	return tok, seconds(left), 0
}

// serveHeld answers a token call of a held-token platform at endpoint ep
// (see fetchHeld); answer builds the success body.
func (s *Server) serveHeld(w http.ResponseWriter, ep string, auth func() (*heldApp, int), p holdPolicy,
	answer func(tok string, expiresIn int) any,
) {
	tok, expiresIn, code := s.fetchHeld(ep, auth, p)
	pl := s.endpoints[ep].platform
	if code != 0 {
		pl.Fail(w, code)
		return
	}
	pl.WriteJSON(w, http.StatusOK, answer(tok, expiresIn))
}

// rotateHeld simulates the platform replacing the token of the app with
// key out of band: the current token dies at once and a new one is issued.
// It returns the new token, or "" for an unknown key.
func (s *Server) rotateHeld(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.held[key]
	if !ok {
		return ""
	}
	s.audit.OutOfBand[key+"/"+epToken]++
	return s.books.Replace(s.now(), &h.Token, h.Platform, h.Key, epToken)
}

// addHeldLocked registers the app with key, or changes its secret.
func (s *Server) addHeldLocked(platform, key, secret string) *heldApp {
	if h, ok := s.held[key]; ok {
		h.Secret = secret
		return h
	}
	h := &heldApp{Platform: platform, Key: key, Secret: secret}
	s.held[key] = h
	return h
}

// authorizeLocked checks tok as a protected endpoint of platform does and
// counts the outcome. It returns the key of the token's app, or the token
// state (non-zero) to refuse it with. A token of another platform is
// CodeIllegal.
func (s *Server) authorizeLocked(now time.Time, platform, tok string) (string, int) {
	code := s.checkLocked(now, tok)
	t, _ := s.books.Token(tok)
	if code == CodeOK && t.Platform != platform {
		code = CodeIllegal
	}
	s.countCallLocked(code)
	if code != CodeOK {
		return "", code
	}
	return t.Owner, CodeOK
}

// serveProbe answers a cheap protected call of endpoint ep with tok: body
// if the token is valid, the platform's refusal otherwise.
func (s *Server) serveProbe(w http.ResponseWriter, r *http.Request, ep, tok string, body any) {
	if s.applyFault(w, r, ep) {
		return
	}
	p := s.endpoints[ep].platform
	if s.authorizeCounted(w, p, tok, func(owner string) { s.audit.Probes[owner+"/"+ep]++ }) {
		p.WriteJSON(w, http.StatusOK, body)
	}
}

// Status is what CheckToken and CheckTicket say about a value: its Code
// (the state, not the platform's errcode), Platform, App, Kind and
// ExpiresAt (see ledger.Status).
type Status = ledger.Status

// CheckToken says whether tok is valid, and whose token of which platform
// it is. Like Check, it does not count in the audit.
func (s *Server) CheckToken(tok string) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Code: s.checkLocked(s.now(), tok)}
	if t, ok := s.books.Token(tok); ok {
		st.Platform, st.App, st.Kind, st.ExpiresAt = t.Platform, t.Owner, t.Family, t.ExpiresAt
	}
	return st
}
