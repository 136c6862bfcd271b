// Package ledger keeps the books of the fake upstream (package wechattest):
// the audit counters, every token and ticket issued, their expiry and retirement, the WeChat
// accounts' quotas and force-refresh limits, the held-token apps of WeCom,
// Feishu and DingTalk and the sliding hourly windows of WeCom tickets.
// Time comes from Config.Clock; days and months start in
// Config.Location.
//
// A Ledger is not safe for concurrent use: the caller (wechattest.Server)
// guards it, and everything it points to, with one mutex. It does no I/O
// and does not promise anything about HTTP answers: it returns token
// states and errcodes, and the caller answers in a platform's envelope.
package ledger

import (
	crand "crypto/rand"
	"encoding/base64"
	"time"

	"k8s.io/utils/clock"
)

// Token and ticket states, as WeChat's protected calls answer them.
const (
	CodeOK         = 0
	CodeNotLatest  = 40001 // superseded past its overlap, force-refreshed away or rotated out of band
	CodeIllegal    = 40014 // never issued (or pruned 24 h after expiry), or of another platform
	CodeExpired    = 42001
	CodeMissing    = 41001
	CodeDailyQuota = 45009
	CodeMinute     = 45011
)

// Platform names, as tokens and tickets record them. An Account's tokens
// are WeChat's.
const (
	PlatformWeChat   = "wechat"
	PlatformWeCom    = "wecom"
	PlatformFeishu   = "feishu"
	PlatformDingTalk = "dingtalk"
)

// App keys name an app in the audit and in Status. A WeChat account's key
// is its appid; the other platforms' keys are prefixed with the platform,
// so the same id on two platforms names two apps.

// WeComKey is the key of WeCom app agentid of corp corpid.
func WeComKey(corpid, agentid string) string { return PlatformWeCom + ":" + corpid + ":" + agentid }

// WeComCorpKey is the key of corp corpid, the owner of its jsapi ticket.
func WeComCorpKey(corpid string) string { return PlatformWeCom + ":" + corpid }

// FeishuKey is the key of Feishu app appID.
func FeishuKey(appID string) string { return PlatformFeishu + ":" + appID }

// DingTalkKey is the key of DingTalk app appKey.
func DingTalkKey(appKey string) string { return PlatformDingTalk + ":" + appKey }

// Token families: the WeChat endpoint families that have their own
// quotas, and the family of every held token.
const (
	FamilyToken  = "token"
	FamilyStable = "stable_token"
)

// pruneAfter is how long an expired token is remembered (42001) before it
// is forgotten (40014), so a long-running wxsim does not grow without bound.
const pruneAfter = 24 * time.Hour

// Config holds the rules of the books. Every field is required: the caller
// applies the defaults (wechattest.Config documents them).
type Config struct {
	Lifetime            time.Duration // of every token
	Overlap             time.Duration // a superseded classic token's grace; a stable token's renewal window
	DailyQuota          int           // calls per account per family per day; negative: unlimited
	MinuteQuota         int           // calls per account per family per clock minute; 0: unlimited
	ForceDailyLimit     int           // stable force refreshes per account per day
	ForceInterval       time.Duration // shortest time between two force refreshes
	ForceTooSoonErrcode int           // answer inside ForceInterval; 0: the current token
	ClearQuotaMonthly   int           // clear_quota calls per account per month
	TicketLifetime      time.Duration
	// TicketRemainingExpiresIn: a ticket answer reports the remaining
	// life, not the full TicketLifetime.
	TicketRemainingExpiresIn bool
	Location                 *time.Location // where days and months start
	Clock                    clock.PassiveClock
}

// Token is one issued token.
type Token struct {
	Platform  string
	Owner     string // app key
	Family    string // FamilyToken or FamilyStable
	ExpiresAt time.Time
	retireAt  time.Time // answers CodeNotLatest from then on; zero if not retired
}

// Ledger is the books. See the package comment for its locking.
type Ledger struct {
	Apps  map[string]*Account // WeChat accounts by appid
	Held  map[string]*Held    // WeCom, Feishu and DingTalk apps by key
	Corps map[string]*Corp    // WeCom corps by corpid

	cfg     Config
	audit   Audit
	tokens  map[string]*Token  // every token issued and not yet pruned
	tickets map[string]*Ticket // the newest ticket by owner key + "/" + kind
	byValue map[string]*Ticket // every ticket issued and not yet pruned
	issued  int                // tokens and tickets issued, for pruning
}

// New returns empty books.
func New(cfg Config) *Ledger {
	return &Ledger{
		Apps:    make(map[string]*Account),
		Held:    make(map[string]*Held),
		Corps:   make(map[string]*Corp),
		cfg:     cfg,
		audit:   newAudit(),
		tokens:  make(map[string]*Token),
		tickets: make(map[string]*Ticket),
		byValue: make(map[string]*Ticket),
	}
}

// Audit is the audit counters, which the ledger's callers update too.
func (l *Ledger) Audit() *Audit { return &l.audit }

// Now is the time on the ledger's clock.
func (l *Ledger) Now() time.Time { return l.cfg.Clock.Now() }

// day and month name the calendar periods quotas count in.
func (l *Ledger) day(t time.Time) string   { return t.In(l.cfg.Location).Format(time.DateOnly) }
func (l *Ledger) month(t time.Time) string { return t.In(l.cfg.Location).Format("2006-01") }

// RandomString returns n random bytes, URL-safe base64 encoded.
func RandomString(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Seconds is d in whole seconds, rounded down.
func Seconds(d time.Duration) int { return int(d / time.Second) }

// Check is the state of tok at now: CodeOK, CodeNotLatest, CodeIllegal,
// CodeExpired or CodeMissing.
func (l *Ledger) Check(now time.Time, tok string) int {
	if tok == "" {
		return CodeMissing
	}
	t, ok := l.tokens[tok]
	switch {
	case !ok:
		return CodeIllegal
	case !now.Before(t.ExpiresAt):
		return CodeExpired
	case !t.retireAt.IsZero() && !now.Before(t.retireAt):
		return CodeNotLatest
	}
	return CodeOK
}

// Token returns the token tok, if it was issued and is not pruned.
func (l *Ledger) Token(tok string) (*Token, bool) {
	t, ok := l.tokens[tok]
	return t, ok
}

// Issue mints a token of platform for the app with key owner, in family.
func (l *Ledger) Issue(now time.Time, platform, owner, family string) string {
	l.countIssue(now)
	v := RandomString(102) // 136 characters, like real tokens
	l.tokens[v] = &Token{Platform: platform, Owner: owner, Family: family, ExpiresAt: now.Add(l.cfg.Lifetime)}
	l.audit.Issued[owner+"/"+family]++
	return v
}

// countIssue counts a token or ticket about to be issued and prunes every
// 1024 of them.
func (l *Ledger) countIssue(now time.Time) {
	l.issued++
	if l.issued%1024 == 0 {
		l.prune(now)
	}
}

func (l *Ledger) prune(now time.Time) {
	for v, t := range l.tokens {
		if now.Sub(t.ExpiresAt) > pruneAfter {
			delete(l.tokens, v)
		}
	}
	for v, t := range l.byValue {
		if now.Sub(t.ExpiresAt) > pruneAfter {
			delete(l.byValue, v)
		}
	}
}

// Retire makes tok answer 40001 from at on, unless it already retires
// earlier.
func (l *Ledger) Retire(tok string, at time.Time) {
	if t, ok := l.tokens[tok]; ok && (t.retireAt.IsZero() || at.Before(t.retireAt)) {
		t.retireAt = at
	}
}

// Replace retires *cur at now, if set, and stores a new token of platform
// for owner in family in it: an out-of-band rotation or a force refresh.
func (l *Ledger) Replace(now time.Time, cur *string, platform, owner, family string) string {
	if *cur != "" {
		l.Retire(*cur, now)
	}
	*cur = l.Issue(now, platform, owner, family)
	return *cur
}

// Status is what the ledger says about a token or ticket (wechattest's
// CheckToken and CheckTicket).
type Status struct {
	// Code is the state: CodeOK (live), CodeNotLatest (superseded past its
	// overlap, force-refreshed away or rotated out of band), CodeExpired,
	// CodeIllegal (never issued, or pruned a day after expiry) or
	// CodeMissing (empty). It is the state, not the platform's errcode.
	Code int `json:"code"`
	// Platform is the platform that issued the value.
	Platform string `json:"platform,omitempty"`
	// App is the key of the app (for a WeCom jsapi ticket, the corp) the
	// value belongs to: see WeComKey and friends.
	App string `json:"app,omitempty"`
	// Kind is the ticket kind, or the token family ("token",
	// "stable_token").
	Kind string `json:"kind,omitempty"`
	// ExpiresAt is the value's expiry.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Live reports whether the value is the live one.
func (st Status) Live() bool { return st.Code == CodeOK }
