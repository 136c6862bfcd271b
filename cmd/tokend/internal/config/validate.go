package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/cmd/tokend/internal/providers"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/store"
)

// validate checks what only tokend knows: the YAML shape (explicit zeros
// and empty strings, secrets and their sources), the operating ranges
// (bounds.go) and the rules between apps. The libraries' own rules are
// checked by their constructors (cmd/tokend builds them).
func (c *Config) validate(getenv func(string) string, readFile func(string) ([]byte, error)) ([]string, error) {
	if c.ReplicaID == "" || strings.ContainsAny(c.ReplicaID, " \t\r\n") || len(c.ReplicaID) > 128 {
		return nil, fieldErr("replica_id", "must be 1 to 128 characters without spaces (omit it for hostname-pid)")
	}
	if err := c.Redis.validate(getenv); err != nil {
		return nil, err
	}
	if l := *c.HTTP.Listen; l != "" && !ValidHostPort(l) {
		return nil, fieldErr("http.listen", "want host:port with a port from 0 to 65535, got %q", l)
	}
	if env := c.HTTP.AuthTokensEnv; env != "" && len(authTokens(getenv(env))) == 0 {
		return nil, fieldErr("http.auth_tokens_env", "environment variable %s is unset or holds no token", env)
	}
	if err := c.HTTP.validateProxy(); err != nil {
		return nil, err
	}
	for _, r := range c.durationRules() {
		if err := r.check(); err != nil {
			return nil, err
		}
	}
	if e := c.Election; e.RetryInterval > e.LeaseTTL {
		// Policy, not a lock invariant: a standby tries at least once per
		// lease, so a takeover waits about one lease at most.
		return nil, fieldErr("election.retry_interval", "must be at most lease_ttl (%s)", e.LeaseTTL)
	}
	if c.Refresh.DailyBudget == 0 {
		return nil, fieldErr("refresh.daily_budget", "0 is not allowed; omit the key for the default (%d), or set %d for no budget",
			refresher.DefaultDailyBudget, refresher.NoDailyBudget)
	}
	if !map[string]bool{"text": true, "json": true}[c.Log.Format] {
		return nil, fieldErr("log.format", "want text or json, got %q", c.Log.Format)
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		return nil, fieldErr("log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	}
	warnings, err := c.validateApps(getenv, readFile)
	if err != nil {
		return nil, err
	}
	if warnings, err = c.validateComponents(getenv, readFile, warnings); err != nil {
		return nil, err
	}
	return warnings, c.validateClients(getenv)
}

func (r *RedisConfig) validate(getenv func(string) string) error {
	modes := 0
	for _, set := range []bool{r.URL != "", r.Sentinel != nil, r.Cluster != nil} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return fieldErr("redis", "set exactly one of url, sentinel or cluster")
	}
	if r.Prefix == "" { // set empty; other prefixes are store.New's to check
		return fieldErr("redis.prefix", prefixRule)
	}
	if r.PasswordEnv != "" && blank(getenv(r.PasswordEnv)) {
		return fieldErr("redis.password_env", "environment variable %s is unset or blank", r.PasswordEnv)
	}
	switch {
	case r.URL != "":
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return fieldErr("redis.url", "want redis://host:port/db or rediss://...")
		}
		if _, err := redis.ParseURL(r.URL); err != nil {
			// Not the error's text: it may quote the URL and its password.
			return fieldErr("redis.url", "not a valid Redis URL (database number, options)")
		}
	case r.Sentinel != nil:
		if r.Sentinel.MasterName == "" {
			return fieldErr("redis.sentinel.master_name", "required")
		}
		if err := checkAddrs("redis.sentinel.addrs", r.Sentinel.Addrs); err != nil {
			return err
		}
		if e := r.Sentinel.PasswordEnv; e != "" && blank(getenv(e)) {
			return fieldErr("redis.sentinel.password_env", "environment variable %s is unset or blank", e)
		}
	case r.Cluster != nil:
		return checkAddrs("redis.cluster.addrs", r.Cluster.Addrs)
	}
	return nil
}

// prefixRule is the message of a redis.prefix store refuses.
const prefixRule = "must match [A-Za-z0-9_.:-]{1,64}"

// Keys is the key layout of redis.prefix (an empty prefix is the
// default's, as in store), or the *Error naming redis.prefix.
func (c *Config) Keys() (store.Keys, error) {
	keys, err := store.NewKeys(c.Redis.Prefix)
	if err != nil {
		return store.Keys{}, fieldErr("redis.prefix", prefixRule)
	}
	return keys, nil
}

func checkAddrs(field string, addrs []string) error {
	if len(addrs) == 0 {
		return fieldErr(field, "at least one host:port required")
	}
	for i, a := range addrs {
		if !ValidHostPort(a) {
			return fieldErr(fmt.Sprintf("%s[%d]", field, i), "want host:port, got %q", a)
		}
	}
	return nil
}

func (c *Config) validateApps(getenv func(string) string, readFile func(string) ([]byte, error)) ([]string, error) {
	var warnings []string
	accounts := map[string]string{} // accountKey -> app id
	for i := range c.Apps {
		a := &c.Apps[i]
		f := func(name string) string { return fmt.Sprintf("apps[%d].%s", i, name) }
		spec, ok := providers.Lookup(a.Provider)
		if !ok {
			return nil, fieldErr(f("provider"), "want %s, got %q", providers.Names, a.Provider)
		}
		if a.ID != "" && !store.ValidApp(a.ID) {
			// refresher.New takes any credential id; an app's id must leave
			// room for its tickets' ("<id>:<kind>").
			return nil, fieldErr(f("id"), "%q must match [A-Za-z0-9_.-]{1,64}", a.ID)
		}
		if a.BaseURL == "" {
			a.BaseURL = spec.BaseURL
		}
		// A missing id, appid and base_url are refresher.New's and the
		// provider's to check.
		warn, err := a.validateExtras(spec, f)
		if err != nil {
			return nil, err
		}
		warnings = append(warnings, warn...)
		w, err := a.resolveSecret(f, getenv, readFile)
		if err != nil {
			return nil, err
		}
		if w != "" {
			warnings = append(warnings, w)
		}
		if strings.TrimSpace(a.AppID) == "" {
			continue
		}
		key := a.accountKey(spec)
		if other, dup := accounts[key]; dup {
			// One upstream credential kept by two apps: for WeChat's classic
			// endpoint each fetch retires the other's token (README, "Credential kinds"),
			// the failure tokend exists to prevent.
			if spec.BySecret {
				return nil, fieldErr(a.secretField(f), "app %q already uses this %s with the same secret; %s", other, appIDName(a.Provider), spec.DupReason)
			}
			return nil, fieldErr(f("appid"), "app %q already uses provider %s with this appid; %s", other, a.Provider, spec.DupReason)
		}
		accounts[key] = a.ID
	}
	return warnings, nil
}

// agentIDPattern is a WeCom AgentId: digits.
var agentIDPattern = regexp.MustCompile(`^[0-9]{1,18}$`)

// validateExtras checks agentid, tickets and probe against the provider
// table; it returns warnings for a config that works but not fully.
func (a *AppConfig) validateExtras(spec providers.Spec, f func(string) string) ([]string, error) {
	if a.AgentID != "" {
		if !spec.AgentID {
			return nil, fieldErr(f("agentid"), "only wecom apps have an agentid, this app's provider is %s", a.Provider)
		}
		if !agentIDPattern.MatchString(a.AgentID) {
			return nil, fieldErr(f("agentid"), "want the app's AgentId (digits, e.g. \"1000002\"), got %q", a.AgentID)
		}
	}
	if spec.BySecret && strings.TrimSpace(a.AppID) != "" && !store.ValidApp(strings.TrimSpace(a.AppID)) {
		// The corpid names the corp's ticket budget in Redis.
		return nil, fieldErr(f("appid"), "want a corpid, [A-Za-z0-9_.-]{1,64}")
	}
	seen := map[string]bool{}
	for j, kind := range a.Tickets {
		fj := fmt.Sprintf("%s[%d]", f("tickets"), j)
		switch {
		case len(spec.Tickets) == 0:
			return nil, fieldErr(fj, "%s apps have no tickets; remove tickets", a.Provider)
		case !slices.Contains(spec.Tickets, kind):
			return nil, fieldErr(fj, "%s apps keep %s tickets, got %q", a.Provider, strings.Join(spec.Tickets, " or "), kind)
		case seen[kind]:
			return nil, fieldErr(fj, "duplicate kind %q", kind)
		}
		seen[kind] = true
	}
	switch p := time.Duration(a.Probe); {
	case p < 0:
		return nil, fieldErr(f("probe"), "must not be negative (0 or omitted: off)")
	case p > 0 && !spec.Probe:
		return nil, fieldErr(f("probe"), "%s has no probe call; remove probe", a.Provider)
	case p > 0 && (p < providers.MinProbe || p > providers.MaxProbe):
		return nil, fieldErr(f("probe"), "must be between %s and %s (0: off), got %s", providers.MinProbe, providers.MaxProbe, p)
	}
	if seen["agent_config"] && a.AgentID == "" {
		return []string{f("agentid") + ": not set, so agent_config signatures are refused (400); the agent_config ticket is still kept"}, nil
	}
	return nil, nil
}

// appIDName is what appid means for provider, for messages.
func appIDName(provider string) string {
	switch provider {
	case "wecom":
		return "corpid"
	case "feishu":
		return "app_id"
	case "dingtalk":
		return "appkey"
	}
	return "appid"
}

// secretField is the path of the secret source a sets.
func (a *AppConfig) secretField(f func(string) string) string {
	switch {
	case a.SecretEnv != "":
		return f("secret_env")
	case a.SecretFile != "":
		return f("secret_file")
	}
	return f("secret")
}

// resolveSecret reads the app's secret from exactly one source. Messages
// never contain the secret.
func (a *AppConfig) resolveSecret(f func(string) string, getenv func(string) string, readFile func(string) ([]byte, error)) (string, error) {
	n := 0
	for _, s := range []string{a.SecretEnv, a.SecretFile, a.Secret} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return "", fieldErr(f("secret_env"), "set exactly one of secret_env, secret_file or secret")
	}
	switch {
	case a.SecretEnv != "":
		a.secret = getenv(a.SecretEnv)
		if blank(a.secret) {
			return "", fieldErr(f("secret_env"), "environment variable %s is unset or blank", a.SecretEnv)
		}
	case a.SecretFile != "":
		b, err := readFile(a.SecretFile)
		if err != nil {
			return "", fieldErr(f("secret_file"), "cannot read %s", a.SecretFile)
		}
		a.secret = strings.TrimSpace(string(b))
		if a.secret == "" {
			return "", fieldErr(f("secret_file"), "%s is empty", a.SecretFile)
		}
	default:
		a.secret = a.Secret
		if blank(a.secret) {
			return "", fieldErr(f("secret"), "is blank")
		}
		return fmt.Sprintf("%s: a literal secret is in the config file; prefer secret_env or secret_file", f("secret")), nil
	}
	return "", nil
}

// blank reports whether a secret is empty or only white space: never a
// real credential, usually a broken template or secret mount.
func blank(s string) bool { return strings.TrimSpace(s) == "" }

// AuthTokens are the shared bearer tokens of http.auth_tokens_env, read
// through getenv; none without the key.
func (c *Config) AuthTokens(getenv func(string) string) []string {
	if c.HTTP.AuthTokensEnv == "" {
		return nil
	}
	return authTokens(getenv(c.HTTP.AuthTokensEnv))
}

// authTokens splits a comma-separated token list, dropping blanks.
func authTokens(v string) []string {
	var out []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// ValidHostPort reports whether s is host:port with a numeric port 0-65535.
func ValidHostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// ParseLevel parses a log level: debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// accountKey names the upstream account a configures: two apps with one
// key are one upstream credential. It holds a digest of the secret for
// providers told apart by it, never the secret.
func (a *AppConfig) accountKey(spec providers.Spec) string {
	key := spec.Family + "\x00" + strings.TrimSpace(a.AppID)
	if spec.BySecret {
		sum := sha256.Sum256([]byte(a.secret))
		key += "\x00" + hex.EncodeToString(sum[:])
	}
	return key
}
