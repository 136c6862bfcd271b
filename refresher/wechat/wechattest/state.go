package wechattest

import (
	crand "crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// Token and ticket states: answers of Check and of WeChat's protected
// calls. The other platforms answer their own errcodes for these states
// (platform.rejects); Status.Code always holds the state.
const (
	CodeOK         = 0
	CodeNotLatest  = 40001 // superseded past its overlap, force-refreshed away or rotated out of band
	CodeIllegal    = 40014 // never issued (or pruned 24 h after expiry), or of another platform
	CodeExpired    = 42001
	CodeMissing    = 41001
	codeDailyQuota = 45009
	codeMinute     = 45011
)

// pruneAfter is how long an expired token is remembered (42001) before it
// is forgotten (40014), so a long-running wxsim does not grow without bound.
const pruneAfter = 24 * time.Hour

type token struct {
	platform  string
	owner     string // app key
	family    string // epToken or epStable
	expiresAt time.Time
	retireAt  time.Time // answers CodeNotLatest from then on; zero if not retired
}

type quota struct {
	day       string
	daily     int
	minute    time.Time
	perMinute int
}

// app is one WeChat account. Fields are guarded by Server.mu.
type app struct {
	id, secret string
	classic    string            // latest classic token, "" if none
	stable     string            // newest stable token, "" if none
	quotas     map[string]*quota // by family
	forceDay   string
	forceCount int
	lastForce  time.Time
	clearMonth string
	clearCount int
}

func newApp(id, secret string) *app {
	return &app{
		id:     id,
		secret: secret,
		quotas: map[string]*quota{epToken: {}, epStable: {}},
	}
}

// randomString returns n random bytes, URL-safe base64 encoded.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newRID returns a request id like WeChat's "xxxxxxxx-xxxxxxxx-xxxxxxxx".
func newRID() string {
	b := make([]byte, 12)
	_, _ = crand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:16] + "-" + h[16:]
}

// seconds is d in whole seconds, rounded down.
func seconds(d time.Duration) int { return int(d / time.Second) }

// Check answers as a protected API would for tok: CodeOK (0), CodeNotLatest
// (40001: superseded past its overlap or force-refreshed away),
// CodeIllegal (40014: never issued), CodeExpired (42001) or CodeMissing
// (41001: empty). It does not count in the audit.
func (s *Server) Check(tok string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkLocked(s.now(), tok)
}

func (s *Server) checkLocked(now time.Time, tok string) int {
	if tok == "" {
		return CodeMissing
	}
	t, ok := s.tokens[tok]
	switch {
	case !ok:
		return CodeIllegal
	case !now.Before(t.expiresAt):
		return CodeExpired
	case !t.retireAt.IsZero() && !now.Before(t.retireAt):
		return CodeNotLatest
	}
	return CodeOK
}

// issueLocked mints a token of platform for the app with key owner, in
// family.
func (s *Server) issueLocked(now time.Time, platform, owner, family string) string {
	s.countIssueLocked(now)
	v := randomString(102) // 136 characters, like real tokens
	s.tokens[v] = &token{platform: platform, owner: owner, family: family, expiresAt: now.Add(s.cfg.Lifetime)}
	s.audit.Issued[owner+"/"+family]++
	return v
}

// countIssueLocked counts a token or ticket about to be issued and prunes
// every 1024 of them.
func (s *Server) countIssueLocked(now time.Time) {
	s.issued++
	if s.issued%1024 == 0 {
		s.pruneLocked(now)
	}
}

func (s *Server) pruneLocked(now time.Time) {
	for v, t := range s.tokens {
		if now.Sub(t.expiresAt) > pruneAfter {
			delete(s.tokens, v)
		}
	}
	for v, t := range s.byValue {
		if now.Sub(t.expiresAt) > pruneAfter {
			delete(s.byValue, v)
		}
	}
}

// retireLocked makes tok answer 40001 from at on, unless it already retires
// earlier.
func (s *Server) retireLocked(tok string, at time.Time) {
	if t, ok := s.tokens[tok]; ok && (t.retireAt.IsZero() || at.Before(t.retireAt)) {
		t.retireAt = at
	}
}

// classicLocked issues a new classic token; the previous latest keeps
// working for Overlap. It returns the token and expires_in.
func (s *Server) classicLocked(now time.Time, a *app) (string, int) {
	if a.classic != "" {
		s.retireLocked(a.classic, now.Add(s.cfg.Overlap))
	}
	a.classic = s.issueLocked(now, PlatformWeChat, a.id, epToken)
	return a.classic, seconds(s.cfg.Lifetime)
}

// stableLocked answers a normal-mode stable call: the current token with
// its remaining seconds, or a new one if there is none valid or the current
// one is in its last Overlap (the old one stays valid until it expires).
func (s *Server) stableLocked(now time.Time, a *app) (string, int) {
	tok, left := s.holdLocked(now, &a.stable, PlatformWeChat, a.id, epStable,
		holdPolicy{renewWithin: s.cfg.Overlap, inclusive: true})
	return tok, seconds(left)
}

// forceLocked answers a force_refresh stable call: a new token, the previous
// one dies at once. Errcode is non-zero when the limits refuse.
func (s *Server) forceLocked(now time.Time, a *app) (tok string, expiresIn, errcode int) {
	if d := s.day(now); d != a.forceDay {
		a.forceDay, a.forceCount = d, 0
	}
	if a.forceCount >= s.cfg.ForceDailyLimit {
		return "", 0, codeDailyQuota
	}
	if !a.lastForce.IsZero() && now.Sub(a.lastForce) < s.cfg.ForceInterval {
		if s.cfg.ForceTooSoonErrcode != 0 {
			return "", 0, s.cfg.ForceTooSoonErrcode
		}
		tok, expiresIn = s.stableLocked(now, a)
		return tok, expiresIn, 0
	}
	a.forceCount++
	a.lastForce = now
	if a.stable != "" {
		s.retireLocked(a.stable, now)
	}
	a.stable = s.issueLocked(now, PlatformWeChat, a.id, epStable)
	return a.stable, seconds(s.cfg.Lifetime), 0
}

// takeQuotaLocked counts one call of a in family, or returns 45011/45009
// when a quota is exhausted (a refused call does not count).
func (s *Server) takeQuotaLocked(now time.Time, a *app, family string) int {
	q := a.quotas[family]
	if d := s.day(now); d != q.day {
		q.day, q.daily = d, 0
	}
	if m := now.Truncate(time.Minute); !m.Equal(q.minute) {
		q.minute, q.perMinute = m, 0
	}
	if s.cfg.MinuteQuota > 0 && q.perMinute >= s.cfg.MinuteQuota {
		return codeMinute
	}
	if s.cfg.DailyQuota > 0 && q.daily >= s.cfg.DailyQuota {
		return codeDailyQuota
	}
	q.daily++
	q.perMinute++
	return 0
}

// Rotate simulates someone else fetching a classic token for appid: a new
// token is issued and the previous latest starts its overlap. It returns
// the new token, or "" for an unknown appid. Quotas are not charged; the
// audit counts it under OutOfBand, not Fetches.
func (s *Server) Rotate(appid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appid]
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
	a, ok := s.apps[appid]
	if !ok {
		return ""
	}
	now := s.now()
	if a.stable != "" {
		s.retireLocked(a.stable, now)
	}
	a.stable = s.issueLocked(now, PlatformWeChat, a.id, epStable)
	s.audit.OutOfBand[appid+"/"+epStable]++
	return a.stable
}

// ResetQuota clears the daily and minute counters of appid, both families,
// and its force-refresh count, without using up clear_quota calls.
func (s *Server) ResetQuota(appid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.apps[appid]; ok {
		resetQuotasLocked(a)
		a.forceDay, a.forceCount = "", 0
	}
}

// resetQuotasLocked clears the daily and minute counters of a.
func resetQuotasLocked(a *app) {
	for _, q := range a.quotas {
		*q = quota{}
	}
}
