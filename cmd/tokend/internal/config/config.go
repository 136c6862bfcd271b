// Package config is tokend's YAML configuration (README "Configuration"):
// the types, strict decoding, the defaults of omitted keys and the rules
// only tokend knows (the YAML shape, explicit zeros, secrets and their
// sources, operating ranges, the rules between apps). The libraries own
// their defaults and invariants: their constructors check them, and
// LibraryError maps their typed field errors to YAML paths. Parse does no
// network I/O; it reads secrets through the getenv and readFile it is
// given. It does not build the libraries' objects (cmd/tokend does, with
// the same constructors for `tokend check` and a start).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tokend/tokend/cmd/tokend/internal/providers"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/store"
)

// Config is the YAML configuration (a contract: README "Configuration").
// Durations use Go syntax ("15s", "10m").
type Config struct {
	ReplicaID string         `yaml:"replica_id"` // default hostname-pid
	Redis     RedisConfig    `yaml:"redis"`
	HTTP      HTTPConfig     `yaml:"http"`
	Election  ElectionConfig `yaml:"election"`
	Refresh   RefreshConfig  `yaml:"refresh"`
	Log       LogConfig      `yaml:"log"`
	Apps      []AppConfig    `yaml:"apps"`
	Clients   []ClientConfig `yaml:"clients"` // config_clients.go
	// Components are Open Platform third-party platforms (config_components.go).
	Components []ComponentConfig `yaml:"components"`
}

// RedisConfig selects standalone (url), Sentinel or Cluster.
type RedisConfig struct {
	URL         string          `yaml:"url"`
	Prefix      string          `yaml:"prefix"`       // default tokend
	PasswordEnv string          `yaml:"password_env"` // optional
	Username    string          `yaml:"username"`     // ACL user (standalone: or in the URL)
	Sentinel    *SentinelConfig `yaml:"sentinel"`
	Cluster     *ClusterConfig  `yaml:"cluster"`
	// Timeout bounds dial, read and write of every Redis call; it must
	// stay well below election.lease_ttl. Default 1s.
	Timeout time.Duration `yaml:"timeout"`
	// MinReplicasAck > 0 sends WAIT after each ticket and token write on
	// the same connection. Default 0 (off).
	MinReplicasAck int `yaml:"min_replicas_ack"`
	// WaitTimeout bounds each WAIT; below timeout. Default
	// store.DefaultWaitTimeout (250ms).
	WaitTimeout time.Duration `yaml:"wait_timeout"`
}

// SentinelConfig is a Sentinel-managed master.
type SentinelConfig struct {
	MasterName  string   `yaml:"master_name"`
	Addrs       []string `yaml:"addrs"`
	PasswordEnv string   `yaml:"password_env"` // the sentinels' own password, optional
}

// ClusterConfig is a Redis Cluster.
type ClusterConfig struct {
	Addrs []string `yaml:"addrs"`
}

// HTTPConfig configures the HTTP API.
type HTTPConfig struct {
	// Listen is host:port; empty disables the API. Default 127.0.0.1:8080.
	Listen        *string `yaml:"listen"`
	AuthTokensEnv string  `yaml:"auth_tokens_env"` // comma-separated bearer tokens
	// Compat serves the WeChat-shaped routes (/cgi-bin/token, ...) that
	// existing SDKs call. Default true.
	Compat *bool `yaml:"compat"`
	// HTTPProxyConfig: proxy mode (config_proxy.go).
	HTTPProxyConfig `yaml:",inline"`
	// TrustedProxies are networks whose X-Forwarded-For is believed
	// (config_clients.go).
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// ElectionConfig are the lease timings.
type ElectionConfig struct {
	LeaseTTL      time.Duration `yaml:"lease_ttl"`      // default lock.DefaultLeaseTTL (15s)
	RenewInterval time.Duration `yaml:"renew_interval"` // default lock.DefaultRenewInterval (5s)
	RenewDeadline time.Duration `yaml:"renew_deadline"` // default lock.DefaultRenewDeadline (10s)
	RetryInterval time.Duration `yaml:"retry_interval"` // default lock.DefaultRetryInterval (2s)
}

// RefreshConfig are the refresh rules.
type RefreshConfig struct {
	BeforeExpiry time.Duration `yaml:"before_expiry"`  // default refresher.DefaultBeforeExpiry (10m)
	SafetyMargin time.Duration `yaml:"safety_margin"`  // default refresher.DefaultSafetyMargin (1m)
	Cooldown     time.Duration `yaml:"cooldown"`       // default refresher.DefaultCooldown (30s)
	DailyBudget  int           `yaml:"daily_budget"`   // default refresher.DefaultDailyBudget (1000)
	MinExpiresIn time.Duration `yaml:"min_expires_in"` // default wechat.DefaultMinExpiresIn (60s)
}

// LogConfig configures logging.
type LogConfig struct {
	Format string `yaml:"format"` // text (default) or json
	Level  string `yaml:"level"`  // debug, info (default), warn, error
}

// AppConfig is one app whose token (and tickets) tokend keeps.
type AppConfig struct {
	ID       string `yaml:"id"`
	Provider string `yaml:"provider"` // wechat | wechat_stable | wecom | feishu | dingtalk
	// AppID is the account: WeCom corpid, Feishu app_id, DingTalk appkey.
	AppID string `yaml:"appid"`
	// AgentID is a WeCom app's AgentId (digits), for agent_config
	// signatures; wecom only.
	AgentID    string `yaml:"agentid"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"` // re-read when the file changes
	Secret     string `yaml:"secret"`      // literal: allowed, warned about
	BaseURL    string `yaml:"base_url"`    // default: the provider's (package providers)
	// Tickets are the ticket kinds to keep, each its own credential
	// "<id>:<kind>" (package providers lists the kinds of each provider).
	Tickets []string `yaml:"tickets"`
	// Probe checks the stored token this often with a cheap authenticated
	// call; 0 (default) is off.
	Probe offDuration `yaml:"probe"`

	secret string // resolved at start
}

// ResolvedSecret is the secret Parse read from the app's source (env,
// file or literal).
func (a *AppConfig) ResolvedSecret() string { return a.secret }

// SetSecret sets the resolved secret of an app built in code (dev mode).
func (a *AppConfig) SetSecret(secret string) { a.secret = secret }

// ProviderApp is a as the provider table's constructors take it.
func (a *AppConfig) ProviderApp() providers.App {
	return providers.App{ID: a.ID, Provider: a.Provider, AppID: a.AppID, BaseURL: a.BaseURL, Tickets: a.Tickets, Probe: time.Duration(a.Probe)}
}

// offDuration is a duration where a bare 0 (YAML int) means off, as well
// as 0s.
type offDuration time.Duration

// UnmarshalYAML accepts 0 and Go duration strings; anything else is the
// YAML type error a time.Duration gets.
func (d *offDuration) UnmarshalYAML(n *yaml.Node) error {
	if n.ShortTag() == "!!int" && n.Value == "0" {
		*d = 0
		return nil
	}
	var v time.Duration
	if err := n.Decode(&v); err != nil {
		return err
	}
	*d = offDuration(v)
	return nil
}

// Error names the field at fault (a YAML path, "" for the file as a
// whole); it makes tokend exit 2.
type Error struct {
	Field, Msg string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "config: " + e.Msg
	}
	return "config: " + e.Field + ": " + e.Msg
}

// Errorf is the *Error of field with a formatted message.
func Errorf(field, format string, args ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func fieldErr(field, format string, args ...any) error { return Errorf(field, format, args...) }

// Read reads the configuration file at path through readFile; its error
// is an *Error.
func Read(path string, readFile func(string) ([]byte, error)) ([]byte, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, &Error{Msg: fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))}
	}
	return data, nil
}

// Parse decodes YAML strictly (unknown fields, duplicate keys and a second
// document are errors), applies defaults to omitted keys and validates
// tokend's own rules; secrets are resolved through getenv and readFile.
// The libraries' rules are their constructors' (cmd/tokend builds them
// for `tokend check` and a start alike). Errors are *Error.
func Parse(data []byte, getenv func(string) string, readFile func(string) ([]byte, error)) (*Config, []string, error) {
	cfg, err := Decode(data)
	if err != nil {
		return nil, nil, err
	}
	warnings, err := cfg.validate(getenv, readFile)
	if err != nil {
		return nil, nil, err
	}
	return cfg, warnings, nil
}

// Decode decodes YAML strictly and applies defaults to omitted keys,
// without validating or resolving any secret (`tokend acl` reads only the
// key layout and the apps' ids).
func Decode(data []byte) (*Config, error) {
	root, err := decodeOneDocument(data)
	if err != nil {
		return nil, err
	}
	if err := duplicateKey(root, ""); err != nil {
		return nil, err
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, yamlError(data, err)
	}
	cfg.setDefaults(presentKeys(root))
	return &cfg, nil
}

// decodeOneDocument parses data into a node tree and refuses a second YAML
// document: yaml would read the first and ignore the rest silently.
func decodeOneDocument(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fieldErr("", "empty file")
		}
		return nil, yamlError(data, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return &root, nil
	case err == nil && next.Line > 0:
		return nil, fieldErr("", "a second YAML document starts at line %d; tokend reads exactly one: remove the \"---\" or merge the documents", next.Line)
	default:
		return nil, fieldErr("", "a second YAML document follows the first; tokend reads exactly one: remove the \"---\" or merge the documents")
	}
}

// SetDefaults fills every key left at its zero value with its default,
// for a Config built in code (dev mode) rather than decoded.
func (c *Config) SetDefaults() { c.setDefaults(nil) }

// setDefaults fills the keys that are absent from present (the paths
// the file sets; nil: none). A key present with a zero value keeps it, and
// validate rejects it where zero means nothing.
func (c *Config) setDefaults(present map[string]bool) {
	if !present["replica_id"] && c.ReplicaID == "" {
		host, _ := os.Hostname()
		c.ReplicaID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if !present["redis.prefix"] && c.Redis.Prefix == "" {
		c.Redis.Prefix = store.DefaultPrefix
	}
	if c.HTTP.Listen == nil {
		def := "127.0.0.1:8080"
		c.HTTP.Listen = &def
	}
	if c.HTTP.Compat == nil {
		on := true
		c.HTTP.Compat = &on
	}
	c.HTTP.setProxyDefaults(present)
	for _, r := range c.durationRules() {
		if !present[r.path] && *r.p == 0 {
			*r.p = r.def
		}
	}
	if !present["refresh.daily_budget"] && c.Refresh.DailyBudget == 0 {
		c.Refresh.DailyBudget = refresher.DefaultDailyBudget
	}
	if !present["log.format"] && c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if !present["log.level"] && c.Log.Level == "" {
		c.Log.Level = "info"
	}
}

// yamlError turns a YAML decoding error into one line naming the field.
func yamlError(data []byte, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return &Error{Msg: strings.SplitN(msg, "\n", 2)[0]}
	}
	first := te.Errors[0] // "line N: ..."
	var line int
	if _, scanErr := fmt.Sscanf(first, "line %d:", &line); scanErr != nil {
		// Never echo yaml's text here: it may quote the value (a secret
		// pasted into the wrong field).
		return &Error{Msg: "invalid value (a YAML type error)"}
	}
	_, detail, _ := strings.Cut(first, ": ")
	// The line alone is ambiguous in flow style ({a: 1, b: [2]}): match the
	// key by name, or the value by its YAML kind.
	match := func(k, v *yaml.Node) bool { return true }
	if m := unknownField.FindStringSubmatch(detail); m != nil {
		detail = fmt.Sprintf("unknown field %q", m[1])
		match = func(k, v *yaml.Node) bool { return k.Value == m[1] }
	} else if m := badValue.FindStringSubmatch(detail); m != nil {
		// Never echo the value: a secret pasted into the wrong field.
		detail = fmt.Sprintf("invalid value, a YAML %s where %s is wanted", m[1], m[3])
		match = func(k, v *yaml.Node) bool { return v.ShortTag() == "!!"+m[1] && quotedValue(v.Value, m[2]) }
	} else {
		detail = "invalid value"
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) == nil {
		if path := pathAtLine(&root, line, "", match); path != "" {
			return &Error{Field: path, Msg: detail}
		}
		if path := pathAtLine(&root, line, "", func(k, v *yaml.Node) bool { return true }); path != "" {
			return &Error{Field: path, Msg: detail}
		}
	}
	return &Error{Msg: fmt.Sprintf("line %d: %s", line, detail)}
}

var (
	unknownField = regexp.MustCompile(`^field (\S+) not found`)
	badValue     = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// quotedValue reports whether a scalar's value is the one yaml quoted in
// a type error ("" when it quoted none): yaml shortens values over 10
// bytes to their first 7 and "...". It only picks the key at fault on a
// line; the value is never echoed.
func quotedValue(value, quoted string) bool {
	if quoted == "" {
		return true
	}
	if len(value) > 10 {
		return strings.HasSuffix(quoted, "...") && strings.HasPrefix(value, strings.TrimSuffix(quoted, "..."))
	}
	return value == quoted
}

// pathAtLine returns the dotted path (apps[1].id) of the first key on line
// for which match holds, or "".
func pathAtLine(n *yaml.Node, line int, prefix string, match func(k, v *yaml.Node) bool) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p := pathAtLine(c, line, prefix, match); p != "" {
				return p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := k.Value
			if prefix != "" {
				path = prefix + "." + k.Value
			}
			if p := pathAtLine(v, line, path, match); p != "" {
				return p // the deepest key wins
			}
			if (k.Line == line || v.Line == line) && match(k, v) {
				return path
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if p := pathAtLine(c, line, fmt.Sprintf("%s[%d]", prefix, i), match); p != "" {
				return p
			}
		}
	}
	return ""
}
