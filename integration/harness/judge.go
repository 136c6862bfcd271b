package harness

import (
	"slices"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// CheckMode says how a Checker judges the values its readers are handed.
type CheckMode int

const (
	// CheckWeChatAPI is for a WeChat access token: plain readers ask
	// Server.Check, library readers call the fake's protected API (GET
	// /cgi-bin/getcallbackip) over HTTP, as a business app would. The
	// protected calls are counted in the fake's audit.
	CheckWeChatAPI CheckMode = iota
	// CheckToken judges any platform's access token with
	// Server.CheckToken at the time of the read (not audited).
	CheckToken
	// CheckTicket judges a JS-SDK ticket with Server.CheckTicket at the
	// time of the read (not audited).
	CheckTicket
)

// judge returns the fake's verdict on v, read from Redis in a read that
// began at start: 0 (live) or the code of a dead value (40001, 40014,
// 42001). A live value of another owner or kind than configured is 40014:
// tokend stored the wrong credential.
//
// With CheckToken and CheckTicket a value that expired after start counts
// as live: Redis handed it out while it lived. Same-value kinds keep no
// safety margin, so their key and the value itself expire milliseconds
// apart, and a verdict taken after a slow read (a busy machine, -race)
// would otherwise blame tokend for the reader's own delay. So does one
// that expired less than ExpiryGrain before start (see ExpiryGrain).
func (c *Checker) judge(v string, start time.Time) int {
	var st wechattest.Status
	switch c.cfg.Check {
	case CheckToken:
		st = c.cfg.Server.CheckToken(v)
	case CheckTicket:
		st = c.cfg.Server.CheckTicket(v)
	default:
		// As below: a token that expired after the read began was handed
		// out alive; a verdict taken after a stall would blame tokend.
		code := c.cfg.Server.Check(v)
		if code == wechattest.CodeExpired && aliveAt(c.cfg.Server.CheckToken(v), start) {
			code = wechattest.CodeOK
		}
		return code
	}
	if st.Code == wechattest.CodeExpired && aliveAt(st, start) {
		st.Code = wechattest.CodeOK
	}
	if st.Live() && (c.cfg.Owner != "" && st.App != c.cfg.Owner || c.cfg.Kind != "" && st.Kind != c.cfg.Kind) {
		return wechattest.CodeIllegal
	}
	return st.Code
}

// aliveAt says whether an expired value st still lived at start (within
// ExpiryGrain).
func aliveAt(st wechattest.Status, start time.Time) bool {
	return st.Code == wechattest.CodeExpired && st.ExpiresAt.After(start.Add(-ExpiryGrain))
}

// ExpiryGrain is how late a key may outlive a value that tokend expires
// with no safety margin: Redis keeps key expiries in whole milliseconds
// and serves a key through the millisecond it expires in, and tokend
// counts a value's life from Redis TIME in whole milliseconds (rounded
// down) at the fetch ticket. The fake issues a value well under a
// millisecond after that on loopback (a real upstream is a network round
// trip away), so key and value may end within a millisecond or two of
// each other in either order.
const ExpiryGrain = 2 * time.Millisecond

// isDead reports whether code says a value is dead (an empty value,
// 41001, is never handed out: a reader finds no value instead).
func isDead(code int) bool {
	return code == wechattest.CodeNotLatest || code == wechattest.CodeIllegal || code == wechattest.CodeExpired
}

// Rollover is one change of the valid value readers were handed: the
// first reader to get the new value got it At; Gap is the longest any
// reader went, across the change, from its last valid read of an older
// value to its first valid read of this one (about the read interval when
// readers saw no gap).
type Rollover struct {
	At  time.Time
	Gap time.Duration
}

// rollovers collects Rollovers by new value. Not safe for concurrent use.
type rollovers map[string]*Rollover

// note records that a reader got v at, gap after its last valid read of
// another value.
func (r *rollovers) note(v string, at time.Time, gap time.Duration) {
	if *r == nil {
		*r = rollovers{}
	}
	ro := (*r)[v]
	if ro == nil {
		(*r)[v] = &Rollover{At: at, Gap: gap}
		return
	}
	ro.Gap = max(ro.Gap, gap)
	if at.Before(ro.At) {
		ro.At = at
	}
}

// list returns the rollovers oldest first.
func (r rollovers) list() []Rollover {
	out := make([]Rollover, 0, len(r))
	for _, ro := range r {
		out = append(out, *ro)
	}
	slices.SortFunc(out, func(a, b Rollover) int { return a.At.Compare(b.At) })
	return out
}

// Gaps returns the rollovers' gaps, in the order of the rollovers.
func Gaps(rs []Rollover) []time.Duration {
	out := make([]time.Duration, len(rs))
	for i, r := range rs {
		out[i] = r.Gap
	}
	return out
}

// RolloverCalls is the most upstream calls tokend makes for one value of a
// same-value kind (a ticket, a WeCom token) that expires l after tokend
// first fetched it, up to the call that gets the next value, given its
// retry interval (README "Rollover of same-value kinds"): at its due time
// (half its life, jittered earlier by up to 5% of it), then halfway to the
// expiry each time but at least retry apart, at the expiry, and once more
// retry later (the upstream's value outlives tokend's first-seen expiry by
// the first fetch's latency). It is the tests' own statement of the rule,
// not the refresher's code.
func RolloverCalls(l, retry time.Duration) int {
	at, n := l*45/100, 1
	for at < l {
		at = min(at+max((l-at)/2, retry), l)
		n++
	}
	return n + 1
}
