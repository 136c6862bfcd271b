package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/cmd/tokend/internal/config"
)

const componentYAML = `
  - id: op-main
    appid: wxcomponent00000001
    secret_env: OP_SECRET
    token_env: OP_TOKEN
    aes_key_env: OP_AES_KEY
`

const testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

func componentEnv(k string) string {
	switch k {
	case "OP_SECRET":
		return "op-s3cr3t-value"
	case "OP_TOKEN":
		return "msgtoken"
	case "OP_AES_KEY":
		return testAESKey
	case "SHORT_KEY":
		return testAESKey[:42]
	case "BAD_KEY":
		return "!" + testAESKey[1:]
	}
	return getenv(k)
}

func TestParseConfig_components(t *testing.T) {
	cfg, warnings, err := parseConfig([]byte(goodConfig+"components:"+componentYAML), componentEnv, readFile)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("parse: %v, warnings %q", err, warnings)
	}
	c := cfg.Components[0]
	if c.ResolvedSecret() != "op-s3cr3t-value" || c.Crypt() == nil || c.BaseURL != "https://api.weixin.qq.com" {
		t.Fatalf("component not resolved: secret set %v, crypt %v, base_url %q", c.ResolvedSecret() != "", c.Crypt() != nil, c.BaseURL)
	}
	// Components alone: no app needed.
	only := strings.Replace(goodConfig, goodConfig[strings.Index(goodConfig, "apps:"):], "components:"+componentYAML, 1)
	if _, _, err := parseConfig([]byte(only), componentEnv, readFile); err != nil {
		t.Fatalf("components without apps: %v", err)
	}
}

func TestParseConfig_badComponents(t *testing.T) {
	repl := func(old, new string) string {
		return goodConfig + "components:" + strings.Replace(componentYAML, old, new, 1)
	}
	for _, tc := range []struct{ name, yaml, field string }{
		{"id of an app", repl("id: op-main", "id: mp-main"), "components[0].id"},
		{"bad id", repl("id: op-main", "id: op/main"), "components[0].id"},
		{"duplicate component", goodConfig + "components:" + componentYAML + strings.Replace(componentYAML, "appid: wxcomponent00000001", "appid: wx2", 1), "components[1].id"},
		{"same appid twice", goodConfig + "components:" + componentYAML + strings.Replace(componentYAML, "id: op-main", "id: op-2", 1), "components[1].appid"},
		{"no appid", repl("appid: wxcomponent00000001", "appid: \"\""), "components[0].appid"},
		{"no secret", repl("secret_env: OP_SECRET", "secret_env: NOPE"), "components[0].secret_env"},
		{"no token_env", repl("token_env: OP_TOKEN", ""), "components[0].token_env"},
		{"unset token", repl("token_env: OP_TOKEN", "token_env: NOPE"), "components[0].token_env"},
		{"no aes_key_env", repl("aes_key_env: OP_AES_KEY", ""), "components[0].aes_key_env"},
		{"42-character key", repl("aes_key_env: OP_AES_KEY", "aes_key_env: SHORT_KEY"), "components[0].aes_key_env"},
		{"key not base64", repl("aes_key_env: OP_AES_KEY", "aes_key_env: BAD_KEY"), "components[0].aes_key_env"},
		{"unknown ticket kind", repl("aes_key_env: OP_AES_KEY", "aes_key_env: OP_AES_KEY\n    tickets: [agent_config]"), "components[0].tickets[0]"},
		{"bad base_url", repl("aes_key_env: OP_AES_KEY", "aes_key_env: OP_AES_KEY\n    base_url: ftp://x"), "components[0].base_url"},
		{"start_push_after too short", repl("aes_key_env: OP_AES_KEY", "aes_key_env: OP_AES_KEY\n    start_push_after: 10ms"), "components[0].start_push_after"},
		{"authorizer_rate too high", repl("aes_key_env: OP_AES_KEY", "aes_key_env: OP_AES_KEY\n    authorizer_rate: 5000"), "components[0].authorizer_rate"},
		{"authorizer_rate negative", repl("aes_key_env: OP_AES_KEY", "aes_key_env: OP_AES_KEY\n    authorizer_rate: -1"), "components[0].authorizer_rate"},
		{"unknown field", repl("aes_key_env: OP_AES_KEY", "aes_key_env: OP_AES_KEY\n    colour: red"), "colour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseConfig([]byte(tc.yaml), componentEnv, readFile)
			var ce *config.Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("err = %v, want a configError naming %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), testAESKey[:20]) {
				t.Fatalf("err %q leaks a secret", err)
			}
		})
	}
}

func TestRun_badComponentExits2(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	y := goodConfig + "components:" + strings.Replace(componentYAML, "id: op-main", "id: mp-main", 1)
	if err := os.WriteFile(bad, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"check", "-config", bad}, componentEnv, os.ReadFile, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "components[0].id") {
		t.Fatalf("exit %d, stderr %q; want 2 naming components[0].id", code, stderr.String())
	}
}
