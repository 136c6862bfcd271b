package clients

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

var (
	ids     = []string{"mp-main", "mp-pay", "wecom-hr", "feishu-x", "op-main"}
	keyB1   = "billing-key-0001-aaaa"
	keyB2   = "billing-key-0002-bbbb" // billing's next key (rotation)
	keyOps  = "ops-key-000000000001"
	keyPx   = "proxy-key-0000000001"
	keyShr  = "shared-key-000000001"
	keyNone = "nobody-has-this-key1"
)

func mustPrefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func testSet(t *testing.T, observe func(Decision)) *Set {
	t.Helper()
	s, err := New(Config{
		AppIDs: ids, Observe: observe, Clock: clocktesting.NewFakePassiveClock(time.Unix(0, 0)),
		Clients: []Client{
			{Name: "billing", Keys: []Digest{KeyDigest(keyB1), KeyDigest(keyB2)}, Apps: []string{"mp-*", "wecom-hr"},
				Allow: []Action{Token, Ticket, Sign, Refresh, Status}, CIDRs: mustPrefixes("10.0.0.0/8", "fd00::/8"),
				RefreshBurst: 1000},
			{Name: "ops", Keys: []Digest{KeyDigest(keyOps)}, Apps: []string{"*"}, Allow: []Action{Status}},
			{Name: "proxy", Keys: []Digest{KeyDigest(keyPx)}, Apps: []string{"mp-main", "op-*"}, Allow: []Action{Proxy, Token},
				CIDRs: mustPrefixes("192.168.1.0/24")},
		},
		Shared: []Digest{KeyDigest(keyShr)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuthorize_table: every key x credential x action x source, against
// scopes written out by hand (no glob, no CIDR): globs over app ids and
// tickets and authorizers, IPv4 and IPv6 (and v4-mapped) sources, both
// rotation keys, the shared list, unknown and missing keys.
func TestAuthorize_table(t *testing.T) {
	type scope struct {
		client  string
		apps    []string // app ids (of credentials) allowed
		actions []Action
		sources []string // allowed sources; nil: any
	}
	anyID := append(slices.Clone(ids), "unknown-app")
	billing := scope{"billing", []string{"mp-main", "mp-pay", "wecom-hr"}, []Action{Token, Ticket, Sign, Refresh, Status},
		[]string{"10.1.2.3", "fd00::1", "::ffff:10.9.9.9"}}
	scopes := map[string]*scope{
		keyB1: &billing,
		keyB2: &billing,
		// "*" matches any id, configured or not (the route answers 404).
		keyOps:  {"ops", anyID, []Action{Status}, nil},
		keyPx:   {"proxy", []string{"mp-main", "op-main"}, []Action{Proxy, Token}, []string{"192.168.1.7"}},
		keyShr:  {SharedName, anyID, Actions, nil},
		keyNone: nil,
		"":      nil,
	}
	creds := map[string]string{ // credential id -> its app id
		"mp-main": "mp-main", "mp-main:jsapi": "mp-main", "mp-pay": "mp-pay", "wecom-hr:agent_config": "wecom-hr",
		"feishu-x": "feishu-x", "op-main/wxauth1": "op-main", "op-main/wxauth1:jsapi": "op-main", "unknown-app": "unknown-app",
	}
	sources := []string{"10.1.2.3", "fd00::1", "::ffff:10.9.9.9", "192.168.1.7", "8.8.8.8", "2001:db8::1"}
	s := testSet(t, nil)
	cells, allowed := 0, 0
	for key, sc := range scopes {
		for cred, app := range creds {
			for _, action := range Actions {
				for _, src := range sources {
					want := sc != nil && slices.Contains(sc.apps, app) && slices.Contains(sc.actions, action) &&
						(sc.sources == nil || slices.Contains(sc.sources, src))
					d := s.Authorize(netip.MustParseAddr(src), key, cred, action)
					cells++
					if d.Allowed != want || (d.Outcome == Allowed) != want {
						t.Errorf("key %q %s %s from %s: %+v, want allowed=%v", key, cred, action, src, d, want)
					}
					if want {
						allowed++
						if d.Client != sc.client {
							t.Errorf("key %q: client %q, want %q", key, d.Client, sc.client)
						}
					}
				}
			}
		}
	}
	if cells != 7*8*6*6 || allowed == 0 || allowed == cells {
		t.Fatalf("%d cells, %d allowed", cells, allowed)
	}
}

// TestAuthorize_reasons: each denial says why; an unknown key gets its
// fingerprint, never itself.
func TestAuthorize_reasons(t *testing.T) {
	s := testSet(t, nil)
	in := netip.MustParseAddr("10.0.0.1")
	for _, c := range []struct {
		src    string
		key    string
		app    string
		action Action
		reason string
	}{
		{"10.0.0.1", "", "mp-main", Token, ReasonNoKey},
		{"10.0.0.1", keyNone, "mp-main", Token, ReasonUnknownKey},
		{"10.0.0.1", keyB1, "feishu-x", Token, ReasonApp},
		{"10.0.0.1", keyB1, "mp-main", Proxy, ReasonAction},
		{"11.0.0.1", keyB1, "mp-main", Token, ReasonSource},
	} {
		d := s.Authorize(netip.MustParseAddr(c.src), c.key, c.app, c.action)
		if d.Allowed || d.Reason != c.reason {
			t.Errorf("%+v: %+v", c, d)
		}
	}
	d := s.Authorize(in, keyNone, "mp-main", Token)
	if d.KeyFingerprint == "" || strings.Contains(d.KeyFingerprint, keyNone) || len(d.KeyFingerprint) != 8 {
		t.Errorf("fingerprint %q", d.KeyFingerprint)
	}
	if d := s.Authorize(in, keyOps, "", Status); !d.Allowed {
		t.Errorf("status without app: %+v", d)
	}
}

// TestAuthorize_rateLimit: a client's refreshes beyond its burst are
// limited with the wait until its next token; time refills the bucket;
// other clients and other actions are unaffected.
func TestAuthorize_rateLimit(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	var seen []Decision
	s, err := New(Config{AppIDs: ids, Clock: clk, Observe: func(d Decision) { seen = append(seen, d) }, Clients: []Client{
		{Name: "a", Keys: []Digest{KeyDigest(keyB1)}, Apps: []string{"*"}, Allow: []Action{Refresh, Token}, RefreshPerMinute: 2, RefreshBurst: 3},
		{Name: "b", Keys: []Digest{KeyDigest(keyOps)}, Apps: []string{"*"}, Allow: []Action{Refresh}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("127.0.0.1")
	for i := range 3 {
		if d := s.Authorize(src, keyB1, "mp-main", Refresh); !d.Allowed {
			t.Fatalf("refresh %d within the burst: %+v", i, d)
		}
	}
	d := s.Authorize(src, keyB1, "mp-main", Refresh)
	if d.Outcome != Limited || d.Allowed || d.RetryAfter != 30*time.Second || d.Client != "a" {
		t.Fatalf("4th refresh: %+v, want limited for 30s", d)
	}
	if d := s.Authorize(src, keyB1, "mp-main", Token); !d.Allowed {
		t.Fatalf("token read while limited: %+v", d)
	}
	for i := range DefaultRefreshBurst {
		if d := s.Authorize(src, keyOps, "mp-main", Refresh); !d.Allowed {
			t.Fatalf("other client's refresh %d: %+v", i, d)
		}
	}
	clk.SetTime(clk.Now().Add(29 * time.Second))
	if d := s.Authorize(src, keyB1, "mp-main", Refresh); d.Outcome != Limited || d.RetryAfter != time.Second {
		t.Fatalf("after 29s: %+v, want limited for 1s", d)
	}
	clk.SetTime(clk.Now().Add(time.Second))
	if d := s.Authorize(src, keyB1, "mp-main", Refresh); !d.Allowed {
		t.Fatalf("after 30s: %+v", d)
	}
	if len(seen) != 3+1+1+DefaultRefreshBurst+2 {
		t.Fatalf("observed %d decisions", len(seen))
	}
}

// TestSource: X-Forwarded-For only from trusted proxies, right-most
// untrusted hop; garbage gives no address.
func TestSource(t *testing.T) {
	s, err := New(Config{TrustedProxies: mustPrefixes("127.0.0.1/32", "10.9.0.0/16", "fd09::/16")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.5:4000", []string{"1.2.3.4"}, "203.0.113.5"}, // untrusted peer: XFF ignored
		{"127.0.0.1:4000", nil, "127.0.0.1"},
		{"127.0.0.1:4000", []string{"1.2.3.4"}, "1.2.3.4"},
		{"127.0.0.1:4000", []string{"6.6.6.6, 1.2.3.4, 10.9.1.1"}, "1.2.3.4"}, // spoofed left hop ignored
		{"127.0.0.1:4000", []string{"6.6.6.6", "1.2.3.4"}, "1.2.3.4"},         // two headers
		{"[fd09::1]:4000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"127.0.0.1:4000", []string{"10.9.1.1, 10.9.2.2"}, "10.9.1.1"}, // every hop trusted
		{"127.0.0.1:4000", []string{"1.2.3.4, garbage"}, ""},
		{"[::ffff:203.0.113.5]:1", nil, "203.0.113.5"},
		{"not-an-addr", nil, ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		got := s.Source(r)
		if (c.want == "" && got.IsValid()) || (c.want != "" && got != netip.MustParseAddr(c.want)) {
			t.Errorf("%s %v: %v, want %q", c.remote, c.xff, got, c.want)
		}
	}
}

// TestAuthorizeProxy: no clients: the token alone; with clients: a key
// with proxy for the app, or a source in the cidrs of a client allowing
// proxy for it (a client without cidrs never authorizes keyless).
func TestAuthorizeProxy(t *testing.T) {
	open, _ := New(Config{Shared: []Digest{KeyDigest(keyShr)}})
	r := httptest.NewRequest("GET", "/cgi-bin/user/get?access_token=x", nil)
	if c, ok := open.AuthorizeProxy(r, "mp-main"); !ok || c != "" {
		t.Fatalf("no clients: %q %v", c, ok)
	}
	s := testSet(t, nil)
	for _, c := range []struct {
		remote, key, app string
		client           string
		ok               bool
	}{
		{"192.168.1.7:1", "", "mp-main", "proxy", true},
		{"192.168.1.7:1", "", "op-main/wxauth1", "proxy", true},
		{"192.168.1.7:1", "", "mp-pay", "", false},
		{"10.1.1.1:1", "", "mp-main", "", false}, // billing's cidrs, but no proxy
		{"8.8.8.8:1", "", "mp-main", "", false},
		{"8.8.8.8:1", keyShr, "mp-main", SharedName, true},
		{"8.8.8.8:1", keyPx, "mp-main", "proxy", false}, // key ok, source not
		{"192.168.1.7:1", keyB1, "mp-main", "billing", false},
		{"192.168.1.7:1", keyNone, "mp-main", "", false},
	} {
		r := httptest.NewRequest("GET", "/cgi-bin/user/get?access_token=x", nil)
		r.RemoteAddr = c.remote
		if c.key != "" {
			r.Header.Set("Authorization", "Bearer "+c.key)
		}
		client, ok := s.AuthorizeProxy(r, c.app)
		if client != c.client || ok != c.ok {
			t.Errorf("%+v: %q %v", c, client, ok)
		}
	}
}

// TestNew_invalid: every rule New enforces names its field.
func TestNew_invalid(t *testing.T) {
	good := func() Client {
		return Client{Name: "a", Keys: []Digest{KeyDigest(keyB1)}, Apps: []string{"mp-*"}, Allow: []Action{Token}}
	}
	for _, c := range []struct {
		field string
		edit  func(*Config)
	}{
		{"Clients[0].Name", func(c *Config) { c.Clients[0].Name = "a b" }},
		{"Clients[0].Name", func(c *Config) { c.Clients[0].Name = SharedName }},
		{"Clients[1].Name", func(c *Config) { c.Clients = append(c.Clients, good()) }},
		{"Clients[0].Keys", func(c *Config) { c.Clients[0].Keys = nil }},
		{"Clients[0].Keys", func(c *Config) { c.Clients[0].Keys = make([]Digest, 3) }},
		{"Clients[1].Keys[0]", func(c *Config) { b := good(); b.Name = "b"; c.Clients = append(c.Clients, b) }},
		{"Clients[0].Apps[0]", func(c *Config) { c.Clients[0].Apps = []string{"nomatch-*"} }},
		{"Clients[0].Apps[0]", func(c *Config) { c.Clients[0].Apps = []string{"[bad"} }},
		{"Clients[0].Apps", func(c *Config) { c.Clients[0].Apps = nil }},
		{"Clients[0].Allow[0]", func(c *Config) { c.Clients[0].Allow = []Action{"write"} }},
		{"Clients[0].Allow", func(c *Config) { c.Clients[0].Allow = nil }},
		{"Clients[0].CIDRs[0]", func(c *Config) { c.Clients[0].CIDRs = []netip.Prefix{{}} }},
		{"Clients[0].RefreshPerMinute", func(c *Config) { c.Clients[0].RefreshBurst = -1 }},
		{"TrustedProxies[0]", func(c *Config) { c.TrustedProxies = []netip.Prefix{{}} }},
		{"Shared[1]", func(c *Config) { c.Shared = []Digest{KeyDigest("x"), KeyDigest(keyB1)} }},
	} {
		cfg := Config{AppIDs: ids, Clients: []Client{good()}}
		c.edit(&cfg)
		_, err := New(cfg)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("want a FieldError for %s, got %v", c.field, err)
		}
	}
}
