// Package clients decides who may do what: named client keys with app
// globs, allowed actions, optional source CIDRs and per-client rate limits
// on refreshes, plus the shared bearer list of http.auth_tokens_env (every
// app, every action). A Set answers Authorize(source, key, app, action)
// with a Decision; the HTTP API, the WeChat-shaped routes and proxy mode
// act on it (403, the upstream's error, 429 with Retry-After) and hand
// every Decision to Config.Observe (metrics, audit).
//
// Keys are held only as SHA-256 digests. A key is checked against the
// digest of every configured key, all of them, with crypto/subtle and no
// early exit, so the time taken says nothing about which client (if any)
// nearly matched. Two keys per client may be valid at once (rotation).
//
// Source addresses come from the connection; X-Forwarded-For is used only
// when the connection comes from a configured trusted proxy, and then the
// right-most hop that is not itself a trusted proxy is the source.
//
// Not promised: limits shared between replicas (each replica keeps its own
// buckets, so a client spreading its requests over N replicas gets up to N
// times its rate; the refresh cooldown and daily budget, kept in Redis,
// still bound upstream calls); rate limits for the shared bearer list
// (it keeps its old meaning: unlimited); reloading clients without a
// restart.
package clients

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Action is what a request does with an app.
type Action string

// The actions a client may be allowed.
const (
	Token   Action = "token"   // read an access token
	Ticket  Action = "ticket"  // read a JS-SDK ticket
	Sign    Action = "sign"    // get a JS-SDK signature
	Refresh Action = "refresh" // report a token or ticket invalid (compare-and-refresh), force_refresh
	Status  Action = "status"  // /v1/status, /v1/audit, the console
	Proxy   Action = "proxy"   // proxy mode requests
)

// Actions lists every action, in documentation order.
var Actions = []Action{Token, Ticket, Sign, Refresh, Status, Proxy}

// ValidAction reports whether s names an action.
func ValidAction(s string) bool { return slices.Contains(Actions, Action(s)) }

// SharedName is the client name of the http.auth_tokens_env keys; no
// configured client may take it.
const SharedName = "shared"

// Rate-limit defaults: a client may start DefaultRefreshBurst refreshes at
// once, then one every minute / DefaultRefreshPerMinute.
const (
	DefaultRefreshPerMinute = 6
	DefaultRefreshBurst     = 5
)

// MinKeyLen is the shortest key accepted (bytes).
const MinKeyLen = 16

// Digest is the SHA-256 of a key, the only form a Set keeps.
type Digest [sha256.Size]byte

// KeyDigest returns the digest of key.
func KeyDigest(key string) Digest { return sha256.Sum256([]byte(key)) }

// Client is one named client.
type Client struct {
	// Name identifies the client in metrics, logs and the audit trail:
	// [A-Za-z0-9_.-]{1,64}, unique, not SharedName.
	Name string
	// Keys are the digests of the client's valid keys: one, or two while a
	// key is rotated. Required.
	Keys []Digest
	// Apps are path.Match globs over app and component ids. Required.
	Apps []string
	// Allow are the allowed actions. Required.
	Allow []Action
	// CIDRs, if any, are the source networks the client's requests must
	// come from (IPv4 or IPv6). None: any source.
	CIDRs []netip.Prefix
	// RefreshPerMinute and RefreshBurst are the client's token bucket for
	// the refresh action. Zero: DefaultRefreshPerMinute,
	// DefaultRefreshBurst.
	RefreshPerMinute int
	RefreshBurst     int
}

// Config configures a Set.
type Config struct {
	Clients []Client
	// Shared are the digests of the http.auth_tokens_env keys: every app,
	// every action, no rate limit.
	Shared []Digest
	// AppIDs are the configured app and component ids; every glob of a
	// client must match one of them. Empty: globs are not checked.
	AppIDs []string
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Observe is told every Decision Authorize and AuthorizeProxy make;
	// nil: nobody.
	Observe func(Decision)
	// Clock drives the rate limits. Default: the real clock.
	Clock clock.PassiveClock
}

// FieldError is a Config field New rejects; Field names it like
// "Clients[2].Apps[0]".
type FieldError struct {
	Field, Msg string
}

func (e *FieldError) Error() string { return "clients: " + e.Field + ": " + e.Msg }

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// client is a validated Client with its bucket.
type client struct {
	Client
	bucket *bucket // nil: unlimited (the shared list)
}

// Set is the configured clients. Safe for concurrent use.
type Set struct {
	clients []*client // configured clients, then the shared list as one client
	named   int       // how many of clients are configured ones
	trusted []netip.Prefix
	observe func(Decision)
	clock   clock.PassiveClock
	mu      sync.Mutex // guards every bucket's state
}

// New validates cfg and returns its Set.
func New(cfg Config) (*Set, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Observe == nil {
		cfg.Observe = func(Decision) {}
	}
	s := &Set{trusted: slices.Clone(cfg.TrustedProxies), observe: cfg.Observe, clock: cfg.Clock}
	names := map[string]bool{}
	keys := map[Digest]string{}
	for i, c := range cfg.Clients {
		c, err := checkClient(i, c, cfg.AppIDs, names, keys)
		if err != nil {
			return nil, err
		}
		per := time.Minute / time.Duration(c.RefreshPerMinute)
		s.clients = append(s.clients, &client{Client: c, bucket: newBucket(c.RefreshBurst, per, cfg.Clock.Now())})
	}
	s.named = len(s.clients)
	for i, k := range cfg.Shared {
		if other, dup := keys[k]; dup {
			return nil, &FieldError{fmt.Sprintf("Shared[%d]", i), fmt.Sprintf("the same key is client %q's", other)}
		}
	}
	if len(cfg.Shared) > 0 {
		s.clients = append(s.clients, &client{Client: Client{
			Name: SharedName, Keys: slices.Clone(cfg.Shared), Apps: []string{"*"}, Allow: Actions,
		}})
	}
	for i, p := range s.trusted {
		if !p.IsValid() {
			return nil, &FieldError{fmt.Sprintf("TrustedProxies[%d]", i), "invalid prefix"}
		}
		s.trusted[i] = p.Masked()
	}
	return s, nil
}

// checkClient validates c (Clients[i]) and returns its defaulted copy;
// names and keys collect what earlier clients took.
func checkClient(i int, c Client, appIDs []string, names map[string]bool, keys map[Digest]string) (Client, error) {
	f := func(field string) string { return fmt.Sprintf("Clients[%d].%s", i, field) }
	switch {
	case !namePattern.MatchString(c.Name):
		return c, &FieldError{f("Name"), "must match [A-Za-z0-9_.-]{1,64}"}
	case c.Name == SharedName:
		return c, &FieldError{f("Name"), fmt.Sprintf("%q is reserved for the http.auth_tokens_env keys", SharedName)}
	case names[c.Name]:
		return c, &FieldError{f("Name"), fmt.Sprintf("duplicate name %q", c.Name)}
	case len(c.Keys) == 0 || len(c.Keys) > 2:
		return c, &FieldError{f("Keys"), fmt.Sprintf("want one key, or two while rotating; got %d", len(c.Keys))}
	case len(c.Apps) == 0:
		return c, &FieldError{f("Apps"), "at least one app glob required"}
	case len(c.Allow) == 0:
		return c, &FieldError{f("Allow"), "at least one action required"}
	case c.RefreshPerMinute < 0 || c.RefreshBurst < 0:
		return c, &FieldError{f("RefreshPerMinute"), "must not be negative"}
	}
	names[c.Name] = true
	for j, k := range c.Keys {
		if other, dup := keys[k]; dup {
			return c, &FieldError{fmt.Sprintf("%s[%d]", f("Keys"), j), fmt.Sprintf("the same key is already client %q's", other)}
		}
		keys[k] = c.Name
	}
	for j, g := range c.Apps {
		if err := checkGlob(g, appIDs); err != nil {
			return c, &FieldError{fmt.Sprintf("%s[%d]", f("Apps"), j), err.Error()}
		}
	}
	for j, a := range c.Allow {
		if !ValidAction(string(a)) {
			return c, &FieldError{fmt.Sprintf("%s[%d]", f("Allow"), j), fmt.Sprintf("unknown action %q; want one of %s", a, actionList())}
		}
	}
	for j, p := range c.CIDRs {
		if !p.IsValid() {
			return c, &FieldError{fmt.Sprintf("%s[%d]", f("CIDRs"), j), "invalid prefix"}
		}
	}
	c.Keys, c.Apps, c.Allow = slices.Clone(c.Keys), slices.Clone(c.Apps), slices.Clone(c.Allow)
	c.CIDRs = slices.Clone(c.CIDRs)
	for j, p := range c.CIDRs {
		c.CIDRs[j] = p.Masked()
	}
	if c.RefreshPerMinute == 0 {
		c.RefreshPerMinute = DefaultRefreshPerMinute
	}
	if c.RefreshBurst == 0 {
		c.RefreshBurst = DefaultRefreshBurst
	}
	return c, nil
}

// checkGlob checks that g is a valid glob matching one of ids (when ids
// are known).
func checkGlob(g string, ids []string) error {
	if _, err := path.Match(g, ""); err != nil || g == "" {
		return fmt.Errorf("invalid glob %q", g)
	}
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if ok, _ := path.Match(g, id); ok {
			return nil
		}
	}
	return fmt.Errorf("glob %q matches no configured app or component id", g)
}

func actionList() string {
	s := make([]string, len(Actions))
	for i, a := range Actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

// Empty reports whether the Set knows no key at all (no clients, no shared
// list): the API then keeps its keyless behaviour.
func (s *Set) Empty() bool { return len(s.clients) == 0 }

// Named reports whether any client is configured (the shared list aside).
func (s *Set) Named() bool { return s.named > 0 }

// Visible reports whether client name may see app (an app, ticket or
// authorizer credential id) in status and audit answers: its globs match
// app and it is allowed Status. An unknown name sees nothing.
func (s *Set) Visible(name, app string) bool {
	for _, c := range s.clients {
		if c.Name == name {
			return slices.Contains(c.Allow, Status) && (app == "" || c.matchApp(app))
		}
	}
	return false
}

// matchApp reports whether one of c's globs matches the app or component
// of credential id ("mp:jsapi" and "op/wxabc" are matched as "mp", "op").
func (c *client) matchApp(id string) bool {
	id, _, _ = strings.Cut(id, ":")
	id, _, _ = strings.Cut(id, "/")
	for _, g := range c.Apps {
		if ok, _ := path.Match(g, id); ok {
			return true
		}
	}
	return false
}
