package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/config"
)

const kindsHeader = `
replica_id: a
redis: {url: "redis://127.0.0.1:6399/0"}
http: {listen: "127.0.0.1:0"}
apps:
`

// kindsEnv holds the secrets of the kinds tests; the values must never
// show in an error.
var kindsEnv = map[string]string{
	"MP": "mp-s3cr3t-value", "HR": "hr-s3cr3t-value", "HR_SAME": "hr-s3cr3t-value", "OA": "oa-s3cr3t-value",
	"FS": "fs-s3cr3t-value", "DT": "dt-s3cr3t-value",
}

func kindsGetenv(k string) string { return kindsEnv[k] }

// kindsReadFile serves /run/hr (the HR secret) and the real files (the
// config written by the test).
func kindsReadFile(name string) ([]byte, error) {
	if name == "/run/hr" {
		return []byte(kindsEnv["HR"] + "\n"), nil
	}
	return os.ReadFile(name)
}

// app is one apps[] entry in flow style.
func app(fields string) string { return "  - {" + fields + "}\n" }

var (
	mpApp     = app("id: mp-main, provider: wechat, appid: wx1234567890abcdef, secret_env: MP")
	wecomApp  = app("id: wecom-hr, provider: wecom, appid: ww0123456789abcdef, agentid: \"1000002\", secret_env: HR")
	feishuApp = app("id: fs, provider: feishu, appid: cli_a1b2c3, secret_env: FS")
	dingApp   = app("id: dt, provider: dingtalk, appid: dingabc, secret_env: DT")
)

// TestConfig_kinds_rejected: every bad input of the credential kinds exits
// 2 from `tokend check` and from a start, naming the YAML field, and never
// prints a secret.
func TestConfig_kinds_rejected(t *testing.T) {
	tests := []struct {
		name, apps, field, msg string
	}{
		{"unknown provider", app("id: x, provider: weixin, appid: wx1, secret_env: MP"), "apps[0].provider", "want wechat, wechat_stable, wecom, feishu or dingtalk"},
		{"app id with a kind", app("id: \"mp:jsapi\", provider: wechat, appid: wx1, secret_env: MP"), "apps[0].id", "must match"},
		{"agentid on wechat", app("id: mp, provider: wechat, appid: wx1, agentid: \"1000002\", secret_env: MP"), "apps[0].agentid", "only wecom apps"},
		{"agentid on feishu", app("id: fs, provider: feishu, appid: cli_1, agentid: \"1\", secret_env: FS"), "apps[0].agentid", "only wecom apps"},
		{"agentid not digits", app("id: hr, provider: wecom, appid: ww1, agentid: 10a, secret_env: HR"), "apps[0].agentid", "digits"},
		{"agentid negative", app("id: hr, provider: wecom, appid: ww1, agentid: -5, secret_env: HR"), "apps[0].agentid", "digits"},
		{"feishu tickets", app("id: fs, provider: feishu, appid: cli_1, tickets: [jsapi], secret_env: FS"), "apps[0].tickets[0]", "feishu apps have no tickets"},
		{"wechat agent_config", app("id: mp, provider: wechat, appid: wx1, tickets: [jsapi, agent_config], secret_env: MP"), "apps[0].tickets[1]", "jsapi or wx_card"},
		{"stable unknown kind", app("id: mp, provider: wechat_stable, appid: wx1, tickets: [JSAPI], secret_env: MP"), "apps[0].tickets[0]", "jsapi or wx_card"},
		{"wecom wx_card", app("id: hr, provider: wecom, appid: ww1, tickets: [wx_card], secret_env: HR"), "apps[0].tickets[0]", "jsapi or agent_config"},
		{"dingtalk agent_config", app("id: dt, provider: dingtalk, appid: d1, tickets: [agent_config], secret_env: DT"), "apps[0].tickets[0]", "dingtalk apps keep jsapi tickets"},
		{"duplicate kind", app("id: mp, provider: wechat, appid: wx1, tickets: [jsapi, wx_card, jsapi], secret_env: MP"), "apps[0].tickets[2]", "duplicate kind"},
		{"tickets not a list", app("id: mp, provider: wechat, appid: wx1, tickets: jsapi, secret_env: MP"), "apps[0].tickets", "invalid value"},
		{"probe on feishu", app("id: fs, provider: feishu, appid: cli_1, probe: 10m, secret_env: FS"), "apps[0].probe", "feishu has no probe call"},
		{"probe on dingtalk", app("id: dt, provider: dingtalk, appid: d1, probe: 10m, secret_env: DT"), "apps[0].probe", "dingtalk has no probe call"},
		{"probe negative", app("id: mp, provider: wechat, appid: wx1, probe: -1s, secret_env: MP"), "apps[0].probe", "must not be negative"},
		{"probe too often", app("id: mp, provider: wechat, appid: wx1, probe: 500ms, secret_env: MP"), "apps[0].probe", "between 1s and 24h0m0s"},
		{"probe too rare", app("id: mp, provider: wechat, appid: wx1, probe: 25h, secret_env: MP"), "apps[0].probe", "between 1s and 24h0m0s"},
		{"probe not a duration", app("id: mp, provider: wechat, appid: wx1, probe: often, secret_env: MP"), "apps[0].probe", "invalid value"},
		{"probe bare number", app("id: mp, provider: wechat, appid: wx1, probe: 600, secret_env: MP"), "apps[0].probe", "invalid value"},
		{"wecom corpid charset", app("id: hr, provider: wecom, appid: \"ww 1\", secret_env: HR"), "apps[0].appid", "corpid"},
		{"wecom same corpid and secret", wecomApp + app("id: hr2, provider: wecom, appid: ww0123456789abcdef, secret_env: HR_SAME"),
			"apps[1].secret_env", `app "wecom-hr" already uses this corpid with the same secret`},
		{"wecom same secret from a file", wecomApp + app("id: hr2, provider: wecom, appid: ww0123456789abcdef, secret_file: /run/hr"),
			"apps[1].secret_file", "same secret"},
		{"wechat twice", mpApp + app("id: mp2, provider: wechat, appid: wx1234567890abcdef, secret_env: OA"),
			"apps[1].appid", "retire each other's tokens"},
		{"stable twice", app("id: a, provider: wechat_stable, appid: wx1, secret_env: MP") + app("id: b, provider: wechat_stable, appid: wx1, secret_env: OA"),
			"apps[1].appid", `app "a" already uses provider wechat_stable`},
		{"feishu twice", feishuApp + app("id: fs2, provider: feishu, appid: cli_a1b2c3, secret_env: OA"), "apps[1].appid", "one Feishu app"},
		{"dingtalk twice", dingApp + app("id: dt2, provider: dingtalk, appid: dingabc, secret_env: OA"), "apps[1].appid", "one DingTalk app"},
		{"duplicate id after tickets", app("id: mp, provider: wechat, appid: wx1, tickets: [jsapi, wx_card], secret_env: MP") +
			app("id: mp, provider: wechat, appid: wx2, secret_env: OA"), "apps[1].id", `duplicate id "mp"`},
		{"secret_file missing", app("id: mp, provider: wechat, appid: wx1, secret_file: /run/none"), "apps[0].secret_file", "cannot read"},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.Repeat("c", i+1)+".yaml")
			if err := os.WriteFile(path, []byte(kindsHeader+tt.apps), 0o600); err != nil {
				t.Fatal(err)
			}
			want := "tokend: config: " + tt.field + ": "
			for _, args := range [][]string{{"check", "-config", path}, {"-config", path}} {
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), args, kindsGetenv, kindsReadFile, &stdout, &stderr)
				out := stderr.String()
				if code != exitConfig || !strings.HasPrefix(out, want) || !strings.Contains(out, tt.msg) || strings.Count(out, "\n") != 1 {
					t.Fatalf("tokend %v: exit %d, stderr %q; want 2 and %s...%s", args[0], code, out, want, tt.msg)
				}
				if strings.Contains(out, "s3cr3t") {
					t.Fatalf("the error shows a secret: %q", out)
				}
			}
		})
	}
}

// TestConfig_kinds_accepted: what the kinds must keep accepting, and the
// defaults they take.
func TestConfig_kinds_accepted(t *testing.T) {
	tests := []struct {
		name, apps string
		check      func(t *testing.T, c *config.Config, warnings []string)
	}{
		{"every provider with its default base_url", mpApp + wecomApp + feishuApp + dingApp +
			app("id: st, provider: wechat_stable, appid: wx1234567890abcdef, secret_env: OA"),
			func(t *testing.T, c *config.Config, _ []string) {
				want := []string{"https://api.weixin.qq.com", "https://qyapi.weixin.qq.com", "https://open.feishu.cn", "https://oapi.dingtalk.com", "https://api.weixin.qq.com"}
				for i, w := range want {
					if c.Apps[i].BaseURL != w {
						t.Errorf("apps[%d].base_url = %q, want %q", i, c.Apps[i].BaseURL, w)
					}
				}
			}},
		{"tickets, agentid and probe", app("id: mp, provider: wechat, appid: wx1, tickets: [jsapi, wx_card], probe: 10m, secret_env: MP") +
			app("id: hr, provider: wecom, appid: ww1, agentid: 1000002, tickets: [agent_config, jsapi], probe: 1s, secret_env: HR") +
			app("id: dt, provider: dingtalk, appid: d1, tickets: [jsapi], secret_env: DT"),
			func(t *testing.T, c *config.Config, w []string) {
				if c.Apps[0].ProviderApp().Probe != 10*time.Minute || c.Apps[1].AgentID != "1000002" || len(c.Apps[1].Tickets) != 2 || len(w) != 0 {
					t.Errorf("apps %+v warnings %q", c.Apps, w)
				}
			}},
		{"probe 0 and 0s are off", app("id: a, provider: wechat, appid: wx1, probe: 0, secret_env: MP") +
			app("id: b, provider: wechat, appid: wx2, probe: 0s, secret_env: MP"),
			func(t *testing.T, c *config.Config, _ []string) {
				if c.Apps[0].Probe != 0 || c.Apps[1].Probe != 0 {
					t.Errorf("probe %v %v", c.Apps[0].Probe, c.Apps[1].Probe)
				}
			}},
		{"one corpid, two secrets", wecomApp + app("id: oa, provider: wecom, appid: ww0123456789abcdef, secret_env: OA"),
			func(*testing.T, *config.Config, []string) {}},
		{"one secret, two corpids", wecomApp + app("id: hr2, provider: wecom, appid: ww99, secret_env: HR_SAME"),
			func(*testing.T, *config.Config, []string) {}},
		{"one appid, classic and stable", mpApp + app("id: st, provider: wechat_stable, appid: wx1234567890abcdef, tickets: [jsapi], secret_env: MP"),
			func(*testing.T, *config.Config, []string) {}},
		{"one appid, wechat and feishu", mpApp + app("id: fs, provider: feishu, appid: wx1234567890abcdef, secret_env: FS"),
			func(*testing.T, *config.Config, []string) {}},
		{"agent_config without agentid warns", app("id: hr, provider: wecom, appid: ww1, tickets: [agent_config], secret_env: HR"),
			func(t *testing.T, _ *config.Config, w []string) {
				if len(w) != 1 || !strings.HasPrefix(w[0], "apps[0].agentid: not set") {
					t.Errorf("warnings %q", w)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, warnings, err := parseConfig([]byte(kindsHeader+tt.apps), kindsGetenv, kindsReadFile)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg, warnings)
		})
	}
}
