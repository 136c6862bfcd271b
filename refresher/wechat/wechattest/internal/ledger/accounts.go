package ledger

import "time"

type quota struct {
	day       string
	daily     int
	minute    time.Time
	perMinute int
}

// Account is one WeChat account (also the classic-token state of an Open
// Platform component or authorizer).
type Account struct {
	ID, Secret string
	Classic    string // latest classic token, "" if none
	Stable     string // newest stable token, "" if none

	quotas     map[string]*quota // by family
	forceDay   string
	forceCount int
	lastForce  time.Time
	clearMonth string
	clearCount int
}

// NewAccount returns an account with no tokens.
func NewAccount(id, secret string) *Account {
	return &Account{
		ID:     id,
		Secret: secret,
		quotas: map[string]*quota{FamilyToken: {}, FamilyStable: {}},
	}
}

// Classic issues a new classic token; the previous latest keeps working for
// Overlap. It returns the token and expires_in.
func (l *Ledger) Classic(now time.Time, a *Account) (string, int) {
	if a.Classic != "" {
		l.Retire(a.Classic, now.Add(l.cfg.Overlap))
	}
	a.Classic = l.Issue(now, PlatformWeChat, a.ID, FamilyToken)
	return a.Classic, Seconds(l.cfg.Lifetime)
}

// Stable answers a normal-mode stable call: the current token with its
// remaining seconds, or a new one if there is none valid or the current one
// is in its last Overlap (the old one stays valid until it expires).
func (l *Ledger) Stable(now time.Time, a *Account) (string, int) {
	tok, left := l.Hold(now, &a.Stable, PlatformWeChat, a.ID, FamilyStable,
		HoldPolicy{RenewWithin: l.cfg.Overlap, Inclusive: true})
	return tok, Seconds(left)
}

// Force answers a force_refresh stable call: a new token, the previous one
// dies at once. Errcode is non-zero when the limits refuse.
func (l *Ledger) Force(now time.Time, a *Account) (tok string, expiresIn, errcode int) {
	if d := l.day(now); d != a.forceDay {
		a.forceDay, a.forceCount = d, 0
	}
	if a.forceCount >= l.cfg.ForceDailyLimit {
		return "", 0, CodeDailyQuota
	}
	if !a.lastForce.IsZero() && now.Sub(a.lastForce) < l.cfg.ForceInterval {
		if l.cfg.ForceTooSoonErrcode != 0 {
			return "", 0, l.cfg.ForceTooSoonErrcode
		}
		tok, expiresIn = l.Stable(now, a)
		return tok, expiresIn, 0
	}
	a.forceCount++
	a.lastForce = now
	return l.Replace(now, &a.Stable, PlatformWeChat, a.ID, FamilyStable), Seconds(l.cfg.Lifetime), 0
}

// TakeQuota counts one call of a in family, or returns 45011/45009 when a
// quota is exhausted (a refused call does not count).
func (l *Ledger) TakeQuota(now time.Time, a *Account, family string) int {
	q := a.quotas[family]
	if d := l.day(now); d != q.day {
		q.day, q.daily = d, 0
	}
	if m := now.Truncate(time.Minute); !m.Equal(q.minute) {
		q.minute, q.perMinute = m, 0
	}
	if l.cfg.MinuteQuota > 0 && q.perMinute >= l.cfg.MinuteQuota {
		return CodeMinute
	}
	if l.cfg.DailyQuota > 0 && q.daily >= l.cfg.DailyQuota {
		return CodeDailyQuota
	}
	q.daily++
	q.perMinute++
	return 0
}

// ClearQuota spends one of a's monthly clear_quota calls to reset its
// quotas, or returns 48006 when none is left.
func (l *Ledger) ClearQuota(now time.Time, a *Account) int {
	if m := l.month(now); m != a.clearMonth {
		a.clearMonth, a.clearCount = m, 0
	}
	if a.clearCount >= l.cfg.ClearQuotaMonthly {
		return 48006
	}
	a.clearCount++
	resetQuotas(a)
	return 0
}

// ResetQuota clears the daily and minute counters of a, both families, and
// its force-refresh count, without using up clear_quota calls.
func ResetQuota(a *Account) {
	resetQuotas(a)
	a.forceDay, a.forceCount = "", 0
}

func resetQuotas(a *Account) {
	for _, q := range a.quotas {
		*q = quota{}
	}
}

// Held is an app of a platform that hands out the same token while it is
// valid (WeCom, Feishu, DingTalk).
type Held struct {
	Platform string
	Key      string // app key
	Secret   string
	Token    string // current token, "" if none

	Corp    *Corp              // WeCom only
	windows map[string]*Window // WeCom only: ticket calls in the last hour, by kind
}

// Corp is one WeCom corp.
type Corp struct {
	ID      string
	Apps    map[string]*Held   // by agentid
	windows map[string]*Window // ticket calls of all its apps in the last hour, by kind
}

// NewCorp returns a corp with no apps.
func NewCorp(id string) *Corp {
	return &Corp{ID: id, Apps: make(map[string]*Held), windows: make(map[string]*Window)}
}

// Window is the corp's hourly window of ticket calls of kind.
func (c *Corp) Window(kind string) *Window { return windowOf(&c.windows, kind) }

// Window is the app's hourly window of ticket calls of kind.
func (h *Held) Window(kind string) *Window { return windowOf(&h.windows, kind) }

func windowOf(m *map[string]*Window, kind string) *Window {
	if *m == nil {
		*m = make(map[string]*Window)
	}
	w := (*m)[kind]
	if w == nil {
		w = &Window{}
		(*m)[kind] = w
	}
	return w
}

// HoldPolicy says when a held token is replaced and what a repeat does.
type HoldPolicy struct {
	// RenewWithin: a call with less than this much life left gets a new
	// token (the current one stays valid until its own expiry); with
	// Inclusive, also a call with exactly this much left. 0: only a dead
	// token is replaced.
	RenewWithin time.Duration
	Inclusive   bool
	// Extend: a repeat extends the token's life to a full Lifetime.
	Extend bool
}

// Hold answers a token call of an endpoint that returns the same token
// while it is valid: *cur, or a new token stored in *cur, following p. It
// returns the token and its remaining life.
func (l *Ledger) Hold(now time.Time, cur *string, platform, owner, family string, p HoldPolicy) (string, time.Duration) {
	if *cur != "" && l.Check(now, *cur) == CodeOK {
		t := l.tokens[*cur]
		left := t.ExpiresAt.Sub(now)
		if left > p.RenewWithin || left == p.RenewWithin && !p.Inclusive {
			if p.Extend {
				t.ExpiresAt = now.Add(l.cfg.Lifetime)
				left = l.cfg.Lifetime
			}
			return *cur, left
		}
	}
	*cur = l.Issue(now, platform, owner, family)
	return *cur, l.cfg.Lifetime
}

// Window holds the times of the calls accepted in the last hour, oldest
// first: a sliding limit, stricter than clock hours.
type Window struct{ calls []time.Time }

// Allows drops calls older than an hour and reports whether one more fits
// under limit (negative: no limit).
func (w *Window) Allows(now time.Time, limit int) bool {
	i := 0
	for i < len(w.calls) && now.Sub(w.calls[i]) >= time.Hour {
		i++
	}
	w.calls = w.calls[i:]
	return limit < 0 || len(w.calls) < limit
}

// Add records a call accepted at now (nothing when there is no limit).
func (w *Window) Add(now time.Time, limit int) {
	if limit >= 0 {
		w.calls = append(w.calls, now)
	}
}
