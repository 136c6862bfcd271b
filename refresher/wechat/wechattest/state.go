package wechattest

import (
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

// Token and ticket states: answers of Check and of WeChat's protected
// calls. The other platforms answer their own errcodes for these states
// (see internal/envelope); Status.Code always holds the state.
const (
	CodeOK         = ledger.CodeOK
	CodeNotLatest  = ledger.CodeNotLatest // superseded past its overlap, force-refreshed away or rotated out of band
	CodeIllegal    = ledger.CodeIllegal   // never issued (or pruned 24 h after expiry), or of another platform
	CodeExpired    = ledger.CodeExpired
	CodeMissing    = ledger.CodeMissing
	codeDailyQuota = ledger.CodeDailyQuota
)

// app is one WeChat account; its fields are guarded by Server.mu.
type app = ledger.Account

// randomString returns n random bytes, URL-safe base64 encoded (for
// handlers minting codes).
func randomString(n int) string { return ledger.RandomString(n) }

// seconds is d in whole seconds, rounded down.
func seconds(d time.Duration) int { return ledger.Seconds(d) }

// Check answers as a protected API would for tok: CodeOK (0), CodeNotLatest
// (40001: superseded past its overlap or force-refreshed away),
// CodeIllegal (40014: never issued), CodeExpired (42001) or CodeMissing
// (41001: empty). It does not count in the audit.
func (s *Server) Check(tok string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkLocked(s.now(), tok)
}

func (s *Server) checkLocked(now time.Time, tok string) int { return s.books.Check(now, tok) }

// classicLocked issues a new classic token; the previous latest keeps
// working for Overlap. It returns the token and expires_in.
func (s *Server) classicLocked(now time.Time, a *app) (string, int) { return s.books.Classic(now, a) }

// takeQuotaLocked counts one call of a in family, or returns 45011/45009
// when a quota is exhausted (a refused call does not count).
func (s *Server) takeQuotaLocked(now time.Time, a *app, family string) int {
	return s.books.TakeQuota(now, a, family)
}

// Rotate simulates someone else fetching a classic token for appid: a new
// token is issued and the previous latest starts its overlap. It returns
// the new token, or "" for an unknown appid. Quotas are not charged; the
// audit counts it under OutOfBand, not Fetches.
func (s *Server) Rotate(appid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.books.Apps[appid]
	if !ok {
		return ""
	}
	tok, _ := s.classicLocked(s.now(), a)
	s.audit.OutOfBand[appid+"/"+epToken]++
	return tok
}

// RotateStable simulates someone else force-refreshing the stable token of
// appid: a new token is issued and the previous one dies at once. Limits
// and quotas are not applied. It returns "" for an unknown appid.
func (s *Server) RotateStable(appid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.books.Apps[appid]
	if !ok {
		return ""
	}
	s.audit.OutOfBand[appid+"/"+epStable]++
	return s.books.Replace(s.now(), &a.Stable, PlatformWeChat, a.ID, epStable)
}

// ResetQuota clears the daily and minute counters of appid, both families,
// and its force-refresh count, without using up clear_quota calls.
func (s *Server) ResetQuota(appid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.books.Apps[appid]; ok {
		ledger.ResetQuota(a)
	}
}
