package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// clientEnv holds the client keys of the tests; ShortKey is 15 bytes.
var clientEnv = map[string]string{
	"BILLING_KEY": "billing-key-0123456789", "BILLING_NEXT": "billing-key-next-0001",
	"OPS_KEY": "ops-key-0123456789abc", "SHORT_KEY": "fifteen-bytes-k",
}

func clientGetenv(k string) string {
	if v, ok := clientEnv[k]; ok {
		return v
	}
	return getenv(k)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

const goodClients = `clients:
  - name: billing
    key_env: BILLING_KEY
    next_key_env: BILLING_NEXT
    apps: ["mp-*"]
    allow: [token, ticket, sign, refresh, status]
    cidrs: ["10.0.0.0/8", "fd00::/8", "192.168.1.7"]
    refresh_per_minute: 2
    refresh_burst: 3
  - name: ops
    key_sha256: `

// TestParseConfig_clients: a good clients section (both key forms,
// rotation, IPv4 and IPv6 networks, trusted proxies) parses.
func TestParseConfig_clients(t *testing.T) {
	y := goodConfig + goodClients + sha256Hex("ops-key") + "\n    apps: [\"*\"]\n    allow: [status]\n" +
		"  - name: rotating\n    key_sha256: [" + sha256Hex("k1") + ", " + sha256Hex("k2") + "]\n    apps: [mp-main]\n    allow: [proxy]\n"
	y = strings.Replace(y, "  auth_tokens_env: TOKENS", "  auth_tokens_env: TOKENS\n  trusted_proxies: [127.0.0.1/32, \"::1\"]", 1)
	cfg, _, err := parseConfig([]byte(y), clientGetenv, readFile)
	if err != nil {
		t.Fatal(err)
	}
	set, err := cfg.ClientSet(clientGetenv, nil, nil)
	if err != nil || !set.Named() || len(cfg.Clients) != 3 {
		t.Fatalf("set: %v %v", set, err)
	}
}

// TestParseConfig_clientsBad: each bad clients entry exits 2 naming the
// field, and no message holds a key.
func TestParseConfig_clientsBad(t *testing.T) {
	ops := func(rest string) string {
		return goodConfig + goodClients + sha256Hex("ops-key") + "\n    apps: [\"*\"]\n    allow: [status]\n" + rest
	}
	repl := func(old, new string) string { return strings.Replace(ops(""), old, new, 1) }
	tests := []struct {
		name, yaml, field, msg string
	}{
		{"short key", repl("key_env: BILLING_KEY", "key_env: SHORT_KEY"), "clients[0].key_env", "shorter than 16 bytes"},
		{"key env unset", repl("key_env: BILLING_KEY", "key_env: NOPE"), "clients[0].key_env", "unset"},
		{"next key env unset", repl("next_key_env: BILLING_NEXT", "next_key_env: NOPE"), "clients[0].next_key_env", "unset"},
		{"next without key", repl("    key_env: BILLING_KEY\n", ""), "clients[0].next_key_env", "needs key_env"},
		{"no key", repl("    key_env: BILLING_KEY\n    next_key_env: BILLING_NEXT\n", ""), "clients[0].key_env", "set key_env"},
		{"three keys", repl("next_key_env: BILLING_NEXT", "next_key_env: BILLING_NEXT\n    key_sha256: "+sha256Hex("x")), "clients[0].key_sha256", "at most two"},
		{"bad sha256", repl("key_sha256: "+sha256Hex("ops-key"), "key_sha256: abc"), "clients[1].key_sha256[0]", "64 hex"},
		{"same key twice", repl("key_sha256: "+sha256Hex("ops-key"), "key_sha256: "+sha256Hex(clientEnv["BILLING_KEY"])), "clients[1].key_sha256", "already client \"billing\"'s"},
		{"unknown action", repl("allow: [status]", "allow: [status, write]"), "clients[1].allow[1]", `unknown action "write"`},
		{"no actions", repl("allow: [status]", "allow: []"), "clients[1].allow", "at least one"},
		{"invalid cidr", repl(`"fd00::/8"`, `"10.0.0.0/33"`), "clients[0].cidrs[1]", "want an IPv4 or IPv6 network"},
		{"cidr garbage", repl(`"192.168.1.7"`, `"nope"`), "clients[0].cidrs[2]", `"nope"`},
		{"glob matches nothing", repl(`apps: ["mp-*"]`, `apps: ["mp-*", "billing-*"]`), "clients[0].apps[1]", "matches no configured app"},
		{"bad glob", repl(`apps: ["mp-*"]`, `apps: ["[mp"]`), "clients[0].apps[0]", "invalid glob"},
		{"no apps", repl(`apps: ["*"]`, `apps: []`), "clients[1].apps", "at least one"},
		{"duplicate name", repl("name: ops", "name: billing"), "clients[1].name", "duplicate name"},
		{"reserved name", repl("name: ops", "name: shared"), "clients[1].name", "reserved"},
		{"bad name", repl("name: ops", "name: \"a b\""), "clients[1].name", "must match"},
		{"negative rate", repl("refresh_per_minute: 2", "refresh_per_minute: -1"), "clients[0].refresh_per_minute", "negative"},
		{"unknown field", repl("refresh_burst: 3", "refresh_burst: 3\n    key: x"), "clients[0].key", "unknown field"},
		{"client key also shared", strings.Replace(ops(""), "TOKENS", "OPS_KEY", 1) + "  - {name: o2, key_env: OPS_KEY, apps: [mp-main], allow: [token]}\n", "http.auth_tokens_env", `client "o2"`},
		{"trusted proxy", strings.Replace(ops(""), "  auth_tokens_env: TOKENS", "  auth_tokens_env: TOKENS\n  trusted_proxies: [\"10.0.0.0/99\"]", 1), "http.trusted_proxies[0]", "want an IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseErr(t, tt.yaml, clientGetenv)
			if !strings.HasPrefix(err.Error(), "config: "+tt.field+":") || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %q: want config: %s: ... %s", err, tt.field, tt.msg)
			}
			for _, k := range clientEnv {
				if strings.Contains(err.Error(), k) {
					t.Fatalf("err %q holds a key", err)
				}
			}
		})
	}
}

// TestRun_clientsBadExits2: through the command line, exit 2 naming the
// field.
func TestRun_clientsBadExits2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	y := goodConfig + "clients:\n  - {name: a, key_env: SHORT_KEY, apps: [mp-main], allow: [token]}\n"
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"check", "-config", path}, clientGetenv, os.ReadFile, &out, &errOut); code != exitConfig ||
		!strings.Contains(errOut.String(), "clients[0].key_env") {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}
