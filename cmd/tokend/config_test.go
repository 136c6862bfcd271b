package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/config"
)

const goodConfig = `
replica_id: a
redis:
  url: redis://127.0.0.1:6399/0
http:
  listen: 127.0.0.1:0
  auth_tokens_env: TOKENS
apps:
  - id: mp-main
    provider: wechat
    appid: wx1234567890abcdef
    secret_env: MP_SECRET
`

var testEnv = map[string]string{"MP_SECRET": "s3cr3t-value", "TOKENS": "t1,t2", "REDIS_PW": "pw"}

func getenv(k string) string { return testEnv[k] }

func readFile(name string) ([]byte, error) {
	if name == "/run/secret" {
		return []byte("file-secret\n"), nil
	}
	if name == "/run/empty" {
		return []byte("\n"), nil
	}
	return nil, fs.ErrNotExist
}

func TestParseConfig_good(t *testing.T) {
	cfg, warnings, err := parseConfig([]byte(goodConfig), getenv, readFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings %v", warnings)
	}
	if cfg.Apps[0].ResolvedSecret() != "s3cr3t-value" || cfg.Election.LeaseTTL != 15*time.Second ||
		cfg.Refresh.BeforeExpiry != 10*time.Minute || cfg.Refresh.DailyBudget != 1000 || cfg.Redis.Prefix != "tokend" {
		t.Fatalf("defaults/secret not applied: %+v", cfg)
	}
}

func TestParseConfig_literalSecretWarns(t *testing.T) {
	y := strings.Replace(goodConfig, "secret_env: MP_SECRET", "secret: lit-s3cr3t", 1)
	cfg, warnings, err := parseConfig([]byte(y), getenv, readFile)
	if err != nil || len(warnings) != 1 || cfg.Apps[0].ResolvedSecret() != "lit-s3cr3t" || strings.Contains(warnings[0], "lit-s3cr3t") {
		t.Fatalf("cfg=%v warnings=%q err=%v", cfg, warnings, err)
	}
	y = strings.Replace(goodConfig, "secret_env: MP_SECRET", "secret_file: /run/secret", 1)
	cfg, _, err = parseConfig([]byte(y), getenv, readFile)
	if err != nil || cfg.Apps[0].ResolvedSecret() != "file-secret" {
		t.Fatalf("secret_file: %v", err)
	}
}

func TestParseConfig_bad(t *testing.T) {
	repl := func(old, new string) string { return strings.Replace(goodConfig, old, new, 1) }
	tests := []struct {
		name, yaml, field string
	}{
		{"empty", "", "empty file"},
		{"not yaml", "{{{", "config"},
		{"unknown top field", goodConfig + "colour: red\n", "colour"},
		{"unknown nested field", repl("  listen:", "  lisen: x\n  listen:"), "lisen"},
		{"no apps", repl("apps:", "old_apps:"), "old_apps"},
		{"missing app id", repl("  - id: mp-main", "  - id: \"\""), "apps[0].id"},
		{"invalid app id", repl("id: mp-main", "id: mp main"), "apps[0].id"},
		{"duplicate app id", goodConfig + "  - id: mp-main\n    provider: wechat\n    appid: wx1\n    secret_env: MP_SECRET\n", "apps[1].id"},
		{"unknown provider", repl("provider: wechat", "provider: weixin"), "apps[0].provider"},
		{"missing appid", repl("appid: wx1234567890abcdef", "appid: \"\""), "apps[0].appid"},
		{"unset secret env", repl("MP_SECRET", "NOPE"), "apps[0].secret_env"},
		{"two secret sources", repl("secret_env: MP_SECRET", "secret_env: MP_SECRET\n    secret: x"), "apps[0].secret_env"},
		{"unreadable secret file", repl("secret_env: MP_SECRET", "secret_file: /nope"), "apps[0].secret_file"},
		{"empty secret file", repl("secret_env: MP_SECRET", "secret_file: /run/empty"), "apps[0].secret_file"},
		{"bad base url", repl("secret_env: MP_SECRET", "secret_env: MP_SECRET\n    base_url: ftp://x"), "apps[0].base_url"},
		{"no redis", repl("  url: redis://127.0.0.1:6399/0", "  prefix: x"), "redis"},
		{"two redis modes", repl("  url: redis://127.0.0.1:6399/0", "  url: redis://x:1\n  cluster: {addrs: [\"a:1\"]}"), "redis"},
		{"bad redis scheme", repl("redis://127.0.0.1:6399/0", "http://127.0.0.1:6399"), "redis.url"},
		{"bad prefix", repl("  url:", "  prefix: \"a}b\"\n  url:"), "redis.prefix"},
		{"unset redis password", repl("  url:", "  password_env: NOPE\n  url:"), "redis.password_env"},
		{"sentinel no master", repl("  url: redis://127.0.0.1:6399/0", "  sentinel: {addrs: [\"127.0.0.1:26379\"]}"), "redis.sentinel.master_name"},
		{"sentinel bad addr", repl("  url: redis://127.0.0.1:6399/0", "  sentinel: {master_name: m, addrs: [\"nope\"]}"), "redis.sentinel.addrs[0]"},
		{"cluster no addrs", repl("  url: redis://127.0.0.1:6399/0", "  cluster: {addrs: []}"), "redis.cluster.addrs"},
		{"bad redis db", repl("redis://127.0.0.1:6399/0", "redis://:pw-s3cr3t-value@127.0.0.1:1/abc"), "redis.url"},
		{"listen port out of range", repl("listen: 127.0.0.1:0", "listen: 127.0.0.1:99999"), "http.listen"},
		{"base url with user info", repl("secret_env: MP_SECRET", "secret_env: MP_SECRET\n    base_url: https://u:pw@api.example.com/"), "apps[0].base_url"},
		{"base url with query", repl("secret_env: MP_SECRET", "secret_env: MP_SECRET\n    base_url: https://api.example.com/?x=1"), "apps[0].base_url"},
		{"bad listen", repl("listen: 127.0.0.1:0", "listen: nope"), "http.listen"},
		{"unset auth env", repl("auth_tokens_env: TOKENS", "auth_tokens_env: NOPE"), "http.auth_tokens_env"},
		{"deadline >= ttl", goodConfig + "election: {lease_ttl: 10s, renew_deadline: 10s}\n", "election.renew_deadline"},
		{"interval >= deadline", goodConfig + "election: {renew_interval: 10s}\n", "election.renew_interval"},
		{"negative retry", goodConfig + "election: {retry_interval: -1s}\n", "election.retry_interval"},
		{"bad duration", goodConfig + "election: {lease_ttl: soon}\n", "election.lease_ttl"},
		{"flow style type error", repl("  - id: mp-main\n    provider: wechat\n    appid: wx1234567890abcdef\n    secret_env: MP_SECRET",
			"  - {id: mp-main, provider: wechat, appid: wx1, secret: [s3cr3t-value]}"), "apps[0].secret"},
		{"flow style unknown field", repl("  url: redis://127.0.0.1:6399/0", "  cluster: {addrs: [\"a:1\"], colour: red}"), "redis.cluster.colour"},
		{"value not echoed", goodConfig + "refresh: {daily_budget: s3cr3t-value}\n", "refresh.daily_budget"},
		{"bad type", repl("replica_id: a", "replica_id: [a]"), "replica_id"},
		{"bad app type", goodConfig + "  - id: [x]\n", "apps[1].id"},
		{"redis timeout too long", repl("  url:", "  timeout: 12s\n  url:"), "redis.timeout"},
		{"negative replica ack", repl("  url:", "  min_replicas_ack: -1\n  url:"), "redis.min_replicas_ack"},
		{"wait timeout too long", repl("  url:", "  min_replicas_ack: 1\n  wait_timeout: 2s\n  url:"), "redis.wait_timeout"},
		{"refresh after the key expired", goodConfig + "refresh: {before_expiry: 30s, safety_margin: 1m}\n", "refresh.before_expiry"},
		{"negative cooldown", goodConfig + "refresh: {cooldown: -1s}\n", "refresh.cooldown"},
		{"bad budget", goodConfig + "refresh: {daily_budget: -5}\n", "refresh.daily_budget"},
		{"min_expires_in too long", goodConfig + "refresh: {min_expires_in: 48h}\n", "refresh.min_expires_in"},
		{"bad log format", goodConfig + "log: {format: xml}\n", "log.format"},
		{"bad log level", goodConfig + "log: {level: loud}\n", "log.level"},
		{"bad replica id", repl("replica_id: a", "replica_id: \"a b\""), "replica_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseErr(t, tt.yaml, getenv)
			if !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err %q does not name %q", err, tt.field)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %q leaks a secret or is not one line", err)
			}
		})
	}
}

// TestRun_badConfigExits2 goes through the command line, as a user would.
// parseErr is the *config.Error parseConfig returns for y (with getenv
// and readFile); any other outcome fails t.
func parseErr(t *testing.T, y string, getenv func(string) string) *config.Error {
	t.Helper()
	_, _, err := parseConfig([]byte(y), getenv, readFile)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *config.Error", err)
	}
	return ce
}

func TestRun_badConfigExits2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(goodConfig, "provider: wechat", "provider: nope", 1)), 0o600)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte(goodConfig), 0o600)
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-config", bad}, 2, "apps[0].provider"},
		{[]string{"check", "-config", bad}, 2, "apps[0].provider"},
		{[]string{"-config", filepath.Join(dir, "missing.yaml")}, 2, "cannot read"},
		{[]string{"check"}, 2, "check needs -config"},
		{[]string{"-nope"}, 2, "flag provided but not defined"},
		{[]string{"check", "-config", good}, 0, "ok (1 apps)"},
		{[]string{"-version"}, 0, "tokend"},
		{[]string{"-config", good, "-log-format", "xml"}, 2, "-log-format"},
		{[]string{"-config", good, "extra"}, 2, "unexpected argument"},
		{[]string{"-dev-listen", "0.0.0.0:8080"}, 2, "loopback only"},
		{[]string{"-dev-listen", "nope"}, 2, "-dev-listen"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, getenv, os.ReadFile, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code != tc.code || !strings.Contains(out, tc.out) {
			t.Errorf("tokend %v: exit %d, output %q; want exit %d mentioning %q", tc.args, code, out, tc.code, tc.out)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(goodConfig))
	f.Add([]byte(goodConfig + "election: {lease_ttl: 1ns, renew_deadline: 0s}\n"))
	f.Add([]byte("redis: {sentinel: {master_name: m, addrs: [\"a:1\"]}}\napps: [{id: x, provider: wechat_stable, appid: a, secret: s}]\n"))
	f.Add([]byte("apps: [[]]"))
	f.Add([]byte("- - -"))
	f.Add([]byte("redis: &a {url: *a}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := parseConfig(data, getenv, readFile)
		if err == nil && (cfg == nil || len(cfg.Apps) == 0 || cfg.Election.RenewDeadline >= cfg.Election.LeaseTTL) {
			t.Fatalf("accepted an invalid config: %+v", cfg)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t-value") {
			t.Fatalf("error leaks the secret: %v", err)
		}
	})
}
