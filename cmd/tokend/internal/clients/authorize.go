package clients

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Outcome is how a Decision came out.
type Outcome string

// The outcomes, also the metrics' outcome label.
const (
	Allowed Outcome = "allowed"
	Denied  Outcome = "denied"
	Limited Outcome = "limited" // allowed, but over the client's rate: try again after RetryAfter
)

// Reasons a request is denied or limited (Decision.Reason).
const (
	ReasonNoKey      = "no key"
	ReasonUnknownKey = "key not accepted"
	ReasonApp        = "app not in the client's apps"
	ReasonAction     = "action not allowed for the client"
	ReasonSource     = "source address not in the client's cidrs"
	ReasonRate       = "refresh rate limit reached"
	ReasonNoProxy    = "no client allows proxy for this app from this source"
)

// Decision is Authorize's answer. It never holds a key: KeyFingerprint is
// the first 8 hex digits of the key's SHA-256.
type Decision struct {
	Client  string // the client the key belongs to; "" when none
	App     string // as asked
	Action  Action
	Source  netip.Addr
	Outcome Outcome
	// Allowed is Outcome == Allowed.
	Allowed bool
	// Reason says why a request is not allowed ("" when it is).
	Reason string
	// RetryAfter is how long a Limited client waits for its next refresh.
	RetryAfter time.Duration
	// KeyFingerprint identifies a key presented that no client holds.
	KeyFingerprint string
}

// Authorize decides whether key, presented from source, may do action
// with app (a credential id; "" when the request names no app, like
// /v1/status: then only the action is checked). The key is compared with
// every configured key digest. A refresh that is allowed takes one token
// of the client's bucket. Config.Observe is told the Decision.
func (s *Set) Authorize(source netip.Addr, key, app string, action Action) Decision {
	d := s.decide(source, key, app, action)
	s.observe(d)
	return d
}

func (s *Set) decide(source netip.Addr, key, app string, action Action) Decision {
	d := Decision{App: app, Action: action, Source: source, Outcome: Denied}
	if key == "" {
		d.Reason = ReasonNoKey
		return d
	}
	c := s.match(KeyDigest(key))
	if c == nil {
		d.Reason, d.KeyFingerprint = ReasonUnknownKey, fingerprint(key)
		return d
	}
	d.Client = c.Name
	switch {
	case !slices.Contains(c.Allow, action):
		d.Reason = ReasonAction
	case app != "" && !c.matchApp(app):
		d.Reason = ReasonApp
	case len(c.CIDRs) > 0 && !containsAddr(c.CIDRs, source):
		d.Reason = ReasonSource
	case action == Refresh && c.bucket != nil:
		if wait := s.take(c.bucket); wait > 0 {
			d.Outcome, d.Reason, d.RetryAfter = Limited, ReasonRate, wait
			return d
		}
		d.Outcome, d.Allowed = Allowed, true
	default:
		d.Outcome, d.Allowed = Allowed, true
	}
	return d
}

// match returns the client holding digest sum, or nil. Every digest of
// every client is compared in constant time, with no early exit.
func (s *Set) match(sum Digest) *client {
	found := -1
	for i, c := range s.clients {
		for _, k := range c.Keys {
			eq := subtle.ConstantTimeCompare(sum[:], k[:])
			found = subtle.ConstantTimeSelect(eq, i, found)
		}
	}
	if found < 0 {
		return nil
	}
	return s.clients[found]
}

// fingerprint is store.Fingerprint's form (8 hex digits of the SHA-256),
// for a key no client holds.
func fingerprint(key string) string {
	const hexDigits = "0123456789abcdef"
	sum := KeyDigest(key)
	b := make([]byte, 8)
	for i := range 4 {
		b[2*i], b[2*i+1] = hexDigits[sum[i]>>4], hexDigits[sum[i]&0xf]
	}
	return string(b)
}

func containsAddr(nets []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Source is the address a request comes from: the connection's peer; when
// that is a trusted proxy, the right-most X-Forwarded-For hop that is not
// itself a trusted proxy (every hop trusted: the left-most). An address
// that does not parse, anywhere it is needed, gives the zero Addr, which no
// CIDR contains.
func (s *Set) Source(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap().WithZone("")
	if !containsAddr(s.trusted, peer) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	src := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}
		}
		src = a.Unmap().WithZone("")
		if !containsAddr(s.trusted, src) {
			return src
		}
	}
	return src
}

// BearerKey returns the key of an "Authorization: Bearer <key>" header, or
// "".
func BearerKey(r *http.Request) string {
	scheme, key, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(key)
}

// AuthorizeProxy is proxy mode's rule for a request to app's upstream,
// which carries only the WeChat access token. No client configured: the
// token alone authorizes (ok, client ""). Otherwise the request needs
// action proxy for app: by the client key of its Authorization: Bearer
// header when it has one, else by its source address, which must be in
// the cidrs of some client allowing proxy for app (a client without cidrs
// never authorizes a keyless request). Config.Observe is told the
// Decision.
func (s *Set) AuthorizeProxy(r *http.Request, app string) (client string, ok bool) {
	if !s.Named() {
		return "", true
	}
	src := s.Source(r)
	if key := BearerKey(r); key != "" {
		d := s.Authorize(src, key, app, Proxy)
		return d.Client, d.Allowed
	}
	d := Decision{App: app, Action: Proxy, Source: src, Outcome: Denied, Reason: ReasonNoProxy}
	for _, c := range s.clients[:s.named] {
		if slices.Contains(c.Allow, Proxy) && c.matchApp(app) && len(c.CIDRs) > 0 && containsAddr(c.CIDRs, src) {
			d.Client, d.Outcome, d.Allowed, d.Reason = c.Name, Allowed, true, ""
			break
		}
	}
	s.observe(d)
	return d.Client, d.Allowed
}

// AuthorizeFirst is Authorize for the first of apps that key may do action
// with (the WeChat-shaped routes: one appid can name several apps, and a
// client key picks the first it is allowed): that app's Decision, or, when
// none allows it, the first app's. Config.Observe is told the one
// Decision returned. No apps: denied, not observed.
func (s *Set) AuthorizeFirst(source netip.Addr, key string, apps []string, action Action) Decision {
	if len(apps) == 0 {
		return Decision{Action: action, Source: source, Outcome: Denied, Reason: ReasonApp}
	}
	var first Decision
	for i, app := range apps {
		d := s.decide(source, key, app, action)
		if i == 0 {
			first = d
		}
		if d.Allowed || d.Outcome == Limited || d.Reason != ReasonApp {
			s.observe(d)
			return d
		}
	}
	s.observe(first)
	return first
}
