// Package harness runs tokend replicas as separate OS processes for the
// integration tests: it builds the tokend binary once per test binary,
// writes each replica's YAML configuration, starts the processes with their
// logs captured to files, waits for /readyz, and controls them with signals
// (SIGKILL, SIGSTOP/SIGCONT, SIGTERM). It also has the invariant Checker
// (readers that keep reading a credential, any platform's access token or
// a JS-SDK ticket, and judge each value with the fake upstream, counting
// dead values, gaps and rollovers) and a TCP Proxy that can cut a replica
// off from Redis.
//
// The redis section of the generated configuration is pluggable
// (Config.Redis takes any value that marshals to the YAML block, or
// RawYAML), so the same harness drives standalone, Sentinel and Cluster
// deployments.
//
// The harness only ever listens on and connects to loopback addresses.
package harness

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// Package is the import path of the tokend command.
const Package = "github.com/tokend/tokend/cmd/tokend"

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// Binary builds the tokend binary once per test binary (without -race, so
// that replicas run at full speed) and returns its path. A build failure
// fails tb. Call Cleanup from TestMain to remove the build directory.
func Binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "tokend-it-")
		if buildErr != nil {
			return
		}
		start := time.Now()
		buildPath, buildErr = Build(context.Background(), buildDir)
		if buildErr == nil {
			tb.Logf("harness: built tokend in %s", time.Since(start).Round(time.Millisecond))
		}
	})
	if buildErr != nil {
		tb.Fatalf("harness: %v", buildErr)
	}
	return buildPath
}

// Build builds the tokend command into dir (without -race, whatever GOFLAGS
// says) and returns the binary's path. It must run inside the tokend
// module. Tests use Binary; Build is for programs (cmd/tokenbench).
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "tokend")
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", bin, Package)
	cmd.Env = append(os.Environ(), "GOFLAGS=") // never inherit -race
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", Package, err, out)
	}
	return bin, nil
}

// Cleanup removes the binary built by Binary. Call it from TestMain after
// m.Run.
func Cleanup() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// goTool is the go command of the toolchain running the tests when it can
// be found, else "go" from PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); isFile(p) {
			return p
		}
	}
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); isFile(p) { //nolint:staticcheck // best effort
		return p
	}
	return "go"
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Config is what every replica of a Cluster shares. Zero fields take the
// defaults named; durations are compressed for tests.
type Config struct {
	// Redis is the redis section: any value that marshals to the YAML
	// block (StandaloneRedis, RawYAML, a struct or a map). Required.
	Redis any
	// Election timings. Defaults: lease 1.5s, renew 300ms, deadline 1s,
	// retry 250ms.
	LeaseTTL, RenewInterval, RenewDeadline, RetryInterval time.Duration
	// Refresh rules. Defaults: before_expiry 10m (so tokens are refreshed
	// at half their life), safety_margin 1m (capped by tokend at 10% of
	// the lifetime), cooldown 200ms, min_expires_in 1s, daily budget -1 (counted, no limit; tokend
	// accepts at most WeChat's 2000).
	BeforeExpiry, SafetyMargin, Cooldown, MinExpiresIn time.Duration
	DailyBudget                                        int
	// Apps are the apps every replica keeps. Required.
	Apps []App
	// APIToken is the bearer token of /v1 routes. Default "it-token".
	APIToken string
	// Env is added to every replica's environment (e.g. "TZ=UTC").
	Env []string
	// LogLevel is log.level. Default "debug".
	LogLevel string
	// HTTP are keys added to the http section (e.g. "proxy": true).
	HTTP map[string]any
	// Extra are further top-level keys of the generated YAML (e.g.
	// "components"); they must not repeat a key the harness writes.
	Extra map[string]any
}

// App is one app of the generated config.
type App struct {
	ID       string // tokend app id
	AppID    string // upstream appid (WeCom: the corpid; Feishu: app_id; DingTalk: appkey)
	Secret   string // passed through the environment (secret_env)
	BaseURL  string // the fake upstream's URL
	Provider string // default "wechat"
	AgentID  string // agentid (wecom only); "" leaves it out
	// Tickets are the ticket kinds kept as credentials <ID>:<kind>; nil
	// leaves the key out.
	Tickets []string
	// Probe is the probe interval; 0 leaves it out (no probe).
	Probe time.Duration
}

// yaml is the app's entry of the generated config; secret_env names the
// variable env sets for app i.
func (a App) yaml(i int) map[string]any {
	m := map[string]any{
		"id": a.ID, "provider": a.Provider, "appid": a.AppID,
		"secret_env": secretEnv(i), "base_url": a.BaseURL,
	}
	if a.AgentID != "" {
		m["agentid"] = a.AgentID
	}
	if len(a.Tickets) > 0 {
		m["tickets"] = a.Tickets
	}
	if a.Probe > 0 {
		m["probe"] = a.Probe.String()
	}
	return m
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.LeaseTTL, 1500*time.Millisecond)
	def(&c.RenewInterval, 300*time.Millisecond)
	def(&c.RenewDeadline, time.Second)
	def(&c.RetryInterval, 250*time.Millisecond)
	def(&c.BeforeExpiry, 10*time.Minute)
	def(&c.SafetyMargin, time.Minute)
	def(&c.Cooldown, 200*time.Millisecond)
	def(&c.MinExpiresIn, time.Second)
	if c.DailyBudget == 0 {
		c.DailyBudget = -1
	}
	if c.APIToken == "" {
		c.APIToken = "it-token"
	}
	if c.LogLevel == "" {
		c.LogLevel = "debug"
	}
	for i := range c.Apps {
		if c.Apps[i].Provider == "" {
			c.Apps[i].Provider = "wechat"
		}
	}
}

// StandaloneRedis is the redis section for one Redis at addr (host:port)
// with prefix ("" for the default) and a per-call timeout well below the
// compressed lease.
func StandaloneRedis(addr, prefix string) any {
	m := map[string]any{"url": "redis://" + addr + "/0", "timeout": "250ms"}
	if prefix != "" {
		m["prefix"] = prefix
	}
	return m
}

// RawYAML is a redis section given as YAML text (e.g. a sentinel or
// cluster block); it panics on text that does not parse, which is a bug in
// the test.
func RawYAML(text string) any {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil {
		panic("harness: RawYAML: " + err.Error())
	}
	if len(n.Content) == 1 {
		return n.Content[0]
	}
	return &n
}

// secretEnv is the environment variable carrying app i's secret.
func secretEnv(i int) string { return fmt.Sprintf("TOKEND_IT_SECRET_%d", i) }

const apiTokensEnv = "TOKEND_IT_API_TOKENS"

// render returns the YAML configuration of replica id listening on listen.
func (c *Config) render(id, listen string) ([]byte, error) {
	apps := make([]map[string]any, 0, len(c.Apps))
	for i, a := range c.Apps {
		apps = append(apps, a.yaml(i))
	}
	doc := map[string]any{
		"replica_id": id,
		"redis":      c.Redis,
		"http":       c.httpSection(listen),
		"election": map[string]any{
			"lease_ttl": c.LeaseTTL.String(), "renew_interval": c.RenewInterval.String(),
			"renew_deadline": c.RenewDeadline.String(), "retry_interval": c.RetryInterval.String(),
		},
		"refresh": map[string]any{
			"before_expiry": c.BeforeExpiry.String(), "safety_margin": c.SafetyMargin.String(),
			"cooldown": c.Cooldown.String(), "daily_budget": c.DailyBudget,
			"min_expires_in": c.MinExpiresIn.String(),
		},
		"log":  map[string]any{"format": "text", "level": c.LogLevel},
		"apps": apps,
	}
	for k, v := range c.Extra {
		doc[k] = v
	}
	return yaml.Marshal(doc)
}

// httpSection is the http section: listen, the API tokens and c.HTTP.
func (c *Config) httpSection(listen string) map[string]any {
	m := map[string]any{"listen": listen, "auth_tokens_env": apiTokensEnv}
	maps.Copy(m, c.HTTP)
	return m
}

// env is the environment of a replica: the test's own, minus anything that
// would change tokend's mode, plus secrets, API tokens, c.Env and extra.
func (c *Config) env(extra []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if len(kv) >= len("TOKEND_CONFIG=") && kv[:len("TOKEND_CONFIG=")] == "TOKEND_CONFIG=" {
			continue
		}
		out = append(out, kv)
	}
	for i, a := range c.Apps {
		out = append(out, secretEnv(i)+"="+a.Secret)
	}
	out = append(out, apiTokensEnv+"="+c.APIToken)
	out = append(out, c.Env...)
	return append(out, extra...)
}
