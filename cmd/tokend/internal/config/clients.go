package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
	"k8s.io/utils/clock"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"
)

// ClientConfig is one entry of clients: a named key with its scope
// (README "Clients"). A client has one key, or two while it rotates:
// key_env (and next_key_env for the second), or key_sha256 (one hex
// SHA-256 digest or a list of two), or key_env with one key_sha256.
type ClientConfig struct {
	Name string `yaml:"name"`
	// KeyEnv and NextKeyEnv name environment variables holding a key
	// (at least clients.MinKeyLen bytes); only its SHA-256 is kept.
	KeyEnv     string `yaml:"key_env"`
	NextKeyEnv string `yaml:"next_key_env"`
	// KeySHA256 are hex SHA-256 digests of keys (sha256sum of the key,
	// without a newline).
	KeySHA256 stringList `yaml:"key_sha256"`
	Apps      []string   `yaml:"apps"`  // globs (path.Match) over app and component ids
	Allow     []string   `yaml:"allow"` // token, ticket, sign, refresh, status, proxy
	CIDRs     []string   `yaml:"cidrs"` // optional source networks; a bare address is one host
	// RefreshPerMinute and RefreshBurst are the client's refresh rate
	// limit (token bucket). Default clients.DefaultRefreshPerMinute (6),
	// clients.DefaultRefreshBurst (5).
	RefreshPerMinute int `yaml:"refresh_per_minute"`
	RefreshBurst     int `yaml:"refresh_burst"`
}

// stringList is a YAML string or a list of strings.
type stringList []string

// UnmarshalYAML accepts a scalar string or a sequence of strings.
func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = stringList{s}
		return nil
	}
	var v []string
	if err := n.Decode(&v); err != nil {
		return err
	}
	*l = v
	return nil
}

// validateClients checks clients and http.trusted_proxies by building
// their Set as a start does.
func (c *Config) validateClients(getenv func(string) string) error {
	_, err := c.ClientSet(getenv, nil, nil)
	return err
}

// clientScopeIDs are the ids client globs are matched against: the apps'
// (and the components', when configured).
func (c *Config) clientScopeIDs() []string {
	ids := make([]string, 0, len(c.Apps)+len(c.Components))
	for _, a := range c.Apps {
		ids = append(ids, a.ID)
	}
	for _, p := range c.Components {
		ids = append(ids, p.ID)
	}
	return ids
}

// ClientSet builds the clients.Set of c: the clients, the shared keys of
// http.auth_tokens_env and the trusted proxies, every key resolved through
// getenv and kept as its digest. Errors are *Error naming the field.
func (c *Config) ClientSet(getenv func(string) string, observe func(clients.Decision), clk clock.PassiveClock) (*clients.Set, error) {
	cfg := clients.Config{AppIDs: c.clientScopeIDs(), Observe: observe, Clock: clk}
	if env := c.HTTP.AuthTokensEnv; env != "" {
		for _, t := range authTokens(getenv(env)) {
			cfg.Shared = append(cfg.Shared, clients.KeyDigest(t))
		}
	}
	for i, p := range c.HTTP.TrustedProxies {
		pfx, err := parseCIDR(p)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("http.trusted_proxies[%d]", i), "%v", err)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, pfx)
	}
	for i, cc := range c.Clients {
		cl, err := cc.client(fmt.Sprintf("clients[%d]", i), getenv)
		if err != nil {
			return nil, err
		}
		cfg.Clients = append(cfg.Clients, cl)
	}
	set, err := clients.New(cfg)
	if err != nil {
		return nil, clientsError(err, c.Clients)
	}
	return set, nil
}

// client resolves cc (at YAML path p) into a clients.Client: keys read
// and hashed, CIDRs parsed. Messages never hold a key.
func (cc ClientConfig) client(p string, getenv func(string) string) (clients.Client, error) {
	f := func(field string) string { return p + "." + field }
	cl := clients.Client{Name: cc.Name, Apps: cc.Apps, RefreshPerMinute: cc.RefreshPerMinute, RefreshBurst: cc.RefreshBurst}
	if cc.NextKeyEnv != "" && cc.KeyEnv == "" {
		return cl, fieldErr(f("next_key_env"), "needs key_env (the current key)")
	}
	for _, field := range []struct{ name, env string }{{"key_env", cc.KeyEnv}, {"next_key_env", cc.NextKeyEnv}} {
		if field.env == "" {
			continue
		}
		key := strings.TrimSpace(getenv(field.env))
		switch {
		case key == "":
			return cl, fieldErr(f(field.name), "environment variable %s is unset or blank", field.env)
		case len(key) < clients.MinKeyLen:
			return cl, fieldErr(f(field.name), "the key in %s is shorter than %d bytes", field.env, clients.MinKeyLen)
		}
		cl.Keys = append(cl.Keys, clients.KeyDigest(key))
	}
	for j, h := range cc.KeySHA256 {
		b, err := hex.DecodeString(strings.TrimSpace(h))
		if err != nil || len(b) != len(clients.Digest{}) {
			return cl, fieldErr(fmt.Sprintf("%s[%d]", f("key_sha256"), j), "want 64 hex digits (sha256sum of the key)")
		}
		cl.Keys = append(cl.Keys, clients.Digest(b))
	}
	if len(cl.Keys) == 0 {
		return cl, fieldErr(f("key_env"), "set key_env (and next_key_env while rotating) or key_sha256")
	}
	if len(cl.Keys) > 2 {
		return cl, fieldErr(f("key_sha256"), "at most two keys per client (the current and the next); got %d", len(cl.Keys))
	}
	for j, a := range cc.Allow {
		cl.Allow = append(cl.Allow, clients.Action(a))
		if !clients.ValidAction(a) {
			return cl, fieldErr(fmt.Sprintf("%s[%d]", f("allow"), j), "unknown action %q; want token, ticket, sign, refresh, status or proxy", a)
		}
	}
	for j, s := range cc.CIDRs {
		pfx, err := parseCIDR(s)
		if err != nil {
			return cl, fieldErr(fmt.Sprintf("%s[%d]", f("cidrs"), j), "%v", err)
		}
		cl.CIDRs = append(cl.CIDRs, pfx)
	}
	return cl, nil
}

// parseCIDR parses an IPv4 or IPv6 prefix ("10.0.0.0/8", "fd00::/8") or
// a bare address (one host).
func parseCIDR(s string) (netip.Prefix, error) {
	if pfx, err := netip.ParsePrefix(s); err == nil {
		return pfx.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("want an IPv4 or IPv6 network like 10.0.0.0/8 or fd00::/8, got %q", s)
}

// clientsFields maps clients.Client fields to their YAML keys.
var (
	clientsFields = map[string]string{
		"Name": "name", "Apps": "apps", "Allow": "allow", "CIDRs": "cidrs",
		"RefreshPerMinute": "refresh_per_minute", "RefreshBurst": "refresh_burst",
	}
	clientsField = regexp.MustCompile(`^Clients\[(\d+)\]\.(\w+)(\[\d+\])?$`)
)

// clientsError maps a *clients.FieldError to the YAML path of the field.
// Keys come from key_env, next_key_env or key_sha256: the error names the
// one the client sets.
func clientsError(err error, cfgs []ClientConfig) error {
	var fe *clients.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	if strings.HasPrefix(fe.Field, "Shared[") {
		return &Error{Field: "http.auth_tokens_env", Msg: "a key of the list: " + fe.Msg + "; a client key must not also be a shared key"}
	}
	m := clientsField.FindStringSubmatch(fe.Field)
	if m == nil {
		return &Error{Field: "clients", Msg: fe.Msg}
	}
	var i int
	_, _ = fmt.Sscanf(m[1], "%d", &i)
	key, ok := clientsFields[m[2]]
	if m[2] == "Keys" && i < len(cfgs) {
		key, ok, m[3] = "key_sha256", true, ""
		if cfgs[i].KeyEnv != "" {
			key = "key_env"
		}
	}
	if !ok {
		return &Error{Field: fmt.Sprintf("clients[%s]", m[1]), Msg: fe.Msg}
	}
	return &Error{Field: fmt.Sprintf("clients[%s].%s%s", m[1], key, m[3]), Msg: fe.Msg}
}
