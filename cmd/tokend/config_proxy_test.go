package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/metrics"
)

// TestConfig_proxyKeys: each bad proxy key exits 2 naming it; omitted
// keys take the defaults; the upstreams are the WeChat and WeCom apps'
// base URLs.
func TestConfig_proxyKeys(t *testing.T) {
	withHTTP := func(keys string) string {
		return strings.Replace(goodConfig, "  auth_tokens_env: TOKENS\n", "  auth_tokens_env: TOKENS\n"+keys, 1)
	}
	for _, tt := range []struct{ name, keys, field, msg string }{
		{"proxy without compat", "  proxy: true\n  compat: false\n", "http.proxy", "needs http.compat"},
		{"timeout 0", "  proxy_timeout: 0s\n", "http.proxy_timeout", "between 1s and 10m0s"},
		{"timeout 1h", "  proxy_timeout: 1h\n", "http.proxy_timeout", "between"},
		{"max body 0", "  proxy_max_body: 0\n", "http.proxy_max_body", "between 1024"},
		{"max body 2 GiB", "  proxy_max_body: 2147483648\n", "http.proxy_max_body", "between"},
		{"max concurrent -1", "  proxy_max_concurrent: -1\n", "http.proxy_max_concurrent", "between 1"},
		{"host with port", "  proxy_hosts: [\"tokend:80\"]\n", "http.proxy_hosts", "entry 0"},
		{"host ip", "  proxy_hosts: [a.b, \"10.0.0.1\"]\n", "http.proxy_hosts", "entry 1"},
		{"proxy not bool", "  proxy: yes please\n", "http.proxy", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokend.yaml")
			if err := os.WriteFile(path, []byte(withHTTP(tt.keys)), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"check", "-config", path}, getenv, os.ReadFile, &stdout, &stderr)
			if code != exitConfig || !strings.Contains(stderr.String(), tt.field) || !strings.Contains(stderr.String(), tt.msg) {
				t.Fatalf("exit %d, stderr %q; want 2 naming %s (%s)", code, stderr.String(), tt.field, tt.msg)
			}
		})
	}
	cfg, _, err := parseConfig([]byte(withHTTP("  proxy: true\n  proxy_hosts: [tokend.internal]\n")+
		"  - id: hr\n    provider: wecom\n    appid: ww1\n    agentid: \"1000002\"\n    secret_env: MP_SECRET\n"+
		"  - id: fs\n    provider: feishu\n    appid: cli_1\n    secret_env: MP_SECRET\n"), getenv, readFile)
	if err != nil {
		t.Fatal(err)
	}
	pc := proxyConfig(cfg, metrics.New())
	if !pc.Enabled || pc.Timeout != 60*time.Second || pc.MaxBody != 32<<20 || pc.MaxConcurrent != 64 || pc.Hosts[0] != "tokend.internal" {
		t.Fatalf("proxy config %+v", pc)
	}
	want := map[string]string{"mp-main": "https://api.weixin.qq.com", "hr": "https://qyapi.weixin.qq.com"}
	if len(pc.Upstreams) != 2 || pc.Upstreams["mp-main"] != want["mp-main"] || pc.Upstreams["hr"] != want["hr"] {
		t.Fatalf("upstreams %v, want %v", pc.Upstreams, want)
	}
}
