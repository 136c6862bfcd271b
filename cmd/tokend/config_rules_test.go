package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/cmd/tokend/internal/config"
)

// TestParseConfig_rules covers issue 11 items 1, 5 and 10: each config
// exits 2 naming the field (and the message says why).
func TestParseConfig_rules(t *testing.T) {
	repl := func(old, new string) string { return strings.Replace(goodConfig, old, new, 1) }
	app2 := func(provider, appid string) string {
		return goodConfig + "  - id: mp-two\n    provider: " + provider + "\n    appid: " + appid + "\n    secret_env: MP_SECRET\n"
	}
	tests := []struct {
		name, yaml, field, msg string
	}{
		// item 1: a renewal bounded by redis.timeout must end inside the lease.
		{"issue config: timeout >= lease - deadline",
			repl("  url:", "  timeout: 2800ms\n  url:") + "election: {lease_ttl: 3s, renew_interval: 1s, renew_deadline: 2900ms}\n",
			"redis.timeout", "lease_ttl - election.renew_deadline"},
		{"timeout == lease - deadline", repl("  url:", "  timeout: 5s\n  url:"), "redis.timeout", "lease_ttl - election.renew_deadline (5s)"},
		// item 5
		{"same provider and appid", app2("wechat", "wx1234567890abcdef"), "apps[1].appid", `app "mp-main"`},
		{"same appid, spaces", app2("wechat", "' wx1234567890abcdef'"), "apps[1].appid", `app "mp-main"`},
		// item 10: explicit zero
		{"cooldown 0", goodConfig + "refresh: {cooldown: 0s}\n", "refresh.cooldown", "omit the key for the default (30s)"},
		{"lease_ttl 0", goodConfig + "election: {lease_ttl: 0s}\n", "election.lease_ttl", "0 is not allowed"},
		{"safety_margin 0", goodConfig + "refresh: {safety_margin: 0s}\n", "refresh.safety_margin", "0 is not allowed"},
		{"min_expires_in 0", goodConfig + "refresh: {min_expires_in: 0s}\n", "refresh.min_expires_in", "0 is not allowed"},
		{"redis timeout 0", repl("  url:", "  timeout: 0s\n  url:"), "redis.timeout", "0 is not allowed"},
		{"wait_timeout 0", repl("  url:", "  min_replicas_ack: 1\n  wait_timeout: 0s\n  url:"), "redis.wait_timeout", "0 is not allowed"},
		{"daily_budget 0", goodConfig + "refresh: {daily_budget: 0}\n", "refresh.daily_budget", "-1 for no budget"},
		{"empty prefix", repl("  url:", "  prefix: \"\"\n  url:"), "redis.prefix", ""},
		{"empty replica id", repl("replica_id: a", "replica_id: \"\""), "replica_id", ""},
		{"empty log format", goodConfig + "log: {format: \"\"}\n", "log.format", ""},
		// item 10: bounds
		{"daily_budget above WeChat's", goodConfig + "refresh: {daily_budget: 5000}\n", "refresh.daily_budget", "2000"},
		{"daily_budget 2001", goodConfig + "refresh: {daily_budget: 2001}\n", "refresh.daily_budget", "2000"},
		{"retry_interval 1h", goodConfig + "election: {retry_interval: 1h}\n", "election.retry_interval", "between"},
		{"retry_interval > lease", goodConfig + "election: {retry_interval: 16s}\n", "election.retry_interval", "at most lease_ttl"},
		{"lease_ttl 1h", goodConfig + "election: {lease_ttl: 1h}\n", "election.lease_ttl", "between 1s and 10m0s"},
		{"before_expiry 2h", goodConfig + "refresh: {before_expiry: 2h}\n", "refresh.before_expiry", "between"},
		{"cooldown 2h", goodConfig + "refresh: {cooldown: 2h}\n", "refresh.cooldown", "between"},
		{"cooldown 1ms", goodConfig + "refresh: {cooldown: 1ms}\n", "refresh.cooldown", "between"},
		{"redis timeout 1ms", repl("  url:", "  timeout: 1ms\n  url:"), "redis.timeout", "between"},
		// item 10: documents, secrets, duplicates
		{"second document", goodConfig + "---\nreplica_id: b\n", "", "a second YAML document starts at line"},
		{"second document empty mapping", goodConfig + "--- {}\n", "", "a second YAML document"},
		{"blank secret env", repl("MP_SECRET", "BLANK"), "apps[0].secret_env", "blank"},
		{"blank literal secret", repl("secret_env: MP_SECRET", "secret: \"  \""), "apps[0].secret", "blank"},
		{"blank redis password", repl("  url:", "  password_env: BLANK\n  url:"), "redis.password_env", "blank"},
		{"duplicate key", repl("  url: redis://127.0.0.1:6399/0", "  url: redis://127.0.0.1:6399/0\n  url: redis://127.0.0.1:6398/0"), "redis.url", "duplicate key"},
		{"duplicate app key", repl("    provider: wechat", "    provider: wechat\n    provider: wechat_stable"), "apps[0].provider", "duplicate key"},
		{"duplicate section", goodConfig + "http: {listen: 127.0.0.1:1}\n", "http", "duplicate key"},
	}
	testEnv["BLANK"] = "  \t "
	defer delete(testEnv, "BLANK")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseErr(t, tt.yaml, getenv)
			if !strings.HasPrefix(err.Error(), "config: "+tt.field) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %q: want config: %s ... %s", err, tt.field, tt.msg)
			}
		})
	}
}

// TestParseConfig_accepted: what the rules must keep accepting.
func TestParseConfig_accepted(t *testing.T) {
	tests := []struct {
		name, yaml string
		check      func(*config.Config) bool
	}{
		{"classic and stable of one appid", goodConfig + "  - id: mp-stable\n    provider: wechat_stable\n    appid: wx1234567890abcdef\n    secret_env: MP_SECRET\n",
			func(c *config.Config) bool { return len(c.Apps) == 2 }},
		{"budget -1", goodConfig + "refresh: {daily_budget: -1}\n", func(c *config.Config) bool { return c.Refresh.DailyBudget == -1 }},
		{"budget 2000", goodConfig + "refresh: {daily_budget: 2000}\n", func(c *config.Config) bool { return c.Refresh.DailyBudget == 2000 }},
		{"min_replicas_ack 0 is off", strings.Replace(goodConfig, "  url:", "  min_replicas_ack: 0\n  url:", 1),
			func(c *config.Config) bool { return c.Redis.MinReplicasAck == 0 }},
		{"omitted keys take defaults", goodConfig + "refresh: {cooldown: 5s}\n", func(c *config.Config) bool {
			return c.Refresh.Cooldown == 5*time.Second && c.Refresh.SafetyMargin == time.Minute && c.Refresh.DailyBudget == 1000
		}},
		{"timeout just below lease - deadline", strings.Replace(goodConfig, "  url:", "  timeout: 4999ms\n  url:", 1),
			func(c *config.Config) bool { return c.Redis.Timeout == 4999*time.Millisecond }},
		{"retry_interval == lease", goodConfig + "election: {retry_interval: 15s}\n", func(c *config.Config) bool { return true }},
		{"document end marker", goodConfig + "...\n", func(c *config.Config) bool { return true }},
		{"leading document marker", "---\n" + goodConfig, func(c *config.Config) bool { return true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := parseConfig([]byte(tt.yaml), getenv, readFile)
			if err != nil || !tt.check(cfg) {
				t.Fatalf("err = %v, cfg = %+v", err, cfg)
			}
		})
	}
}

// TestRun_checkRejectsIssueConfig: the config of issue 11 item 1 (two
// leaders for 0.79 s) through `tokend check`.
func TestRun_checkRejectsIssueConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokend.yaml")
	y := strings.Replace(goodConfig, "  url:", "  timeout: 2.8s\n  url:", 1) +
		"election: {lease_ttl: 3s, renew_interval: 1s, renew_deadline: 2.9s}\n"
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"check", "-config", path}, getenv, os.ReadFile, &stdout, &stderr)
	if code != exitConfig || !strings.Contains(stderr.String(), "redis.timeout") {
		t.Fatalf("exit %d, stderr %q; want 2 naming redis.timeout", code, stderr.String())
	}
}

// TestNewRedis_contextTimeoutEnabled: every client tokend builds lets a
// context deadline bound socket I/O (issue 11 item 1).
func TestNewRedis_contextTimeoutEnabled(t *testing.T) {
	for name, rc := range map[string]config.RedisConfig{
		"standalone": {URL: "redis://127.0.0.1:1/0", Timeout: time.Second},
		"sentinel":   {Sentinel: &config.SentinelConfig{MasterName: "m", Addrs: []string{"127.0.0.1:1"}}, Timeout: time.Second},
		"cluster":    {Cluster: &config.ClusterConfig{Addrs: []string{"127.0.0.1:1"}}, Timeout: time.Second},
	} {
		c, err := newRedis(rc, getenv)
		if err != nil {
			t.Fatal(err)
		}
		var on bool
		switch c := c.(type) {
		case *redis.Client:
			on = c.Options().ContextTimeoutEnabled
		case *redis.ClusterClient:
			on = c.Options().ContextTimeoutEnabled
		default:
			t.Fatalf("%s: client type %T", name, c)
		}
		c.Close()
		if !on {
			t.Errorf("%s: ContextTimeoutEnabled is off", name)
		}
	}
}
