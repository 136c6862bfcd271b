package compat

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/store/reader"
	clocktesting "k8s.io/utils/clock/testing"
)

func secretOf(s string) func() string { return func() string { return s } }

// compatApps: one app of each provider, a WeCom corp with two apps (told
// apart by their secrets), and one appid configured under both WeChat
// providers.
func compatApps() []App {
	return []App{
		{ID: "mp", Provider: "wechat", AppID: "wxmp", Secret: secretOf("mp-secret"), Tickets: []string{"jsapi", "wx_card"}},
		{ID: "st", Provider: "wechat_stable", AppID: "wxst", Secret: secretOf("st-secret"), Tickets: []string{"jsapi"}},
		{ID: "dual-classic", Provider: "wechat", AppID: "wxdual", Secret: secretOf("dual-secret")},
		{ID: "dual-stable", Provider: "wechat_stable", AppID: "wxdual", Secret: secretOf("dual-secret")},
		{ID: "hr", Provider: "wecom", AppID: "ww1", Secret: secretOf("hr-secret"), Tickets: []string{"jsapi", "agent_config"}},
		{ID: "hr2", Provider: "wecom", AppID: "ww1", Secret: secretOf("hr2-secret"), Tickets: []string{"jsapi"}},
		{ID: "fs", Provider: "feishu", AppID: "cli_1", Secret: secretOf("fs-secret")},
		{ID: "dt", Provider: "dingtalk", AppID: "dingkey", Secret: secretOf("dt-secret"), Tickets: []string{"jsapi"}},
	}
}

// compatClock is the compat envs' index clock.
var compatT0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func newCompatEnv(t *testing.T) (*env, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(compatT0)
	e := newEnvWith(t, func(c *Config) { c.Apps, c.Clock = compatApps(), clk })
	return e, clk
}

// writeAll stores a token for every compat app and a ticket of every kind
// it keeps.
func (e *env) writeAll(t *testing.T) {
	t.Helper()
	for _, a := range compatApps() {
		e.writeToken(t, a.ID, "tok-"+a.ID)
		for _, k := range a.Tickets {
			e.writeToken(t, a.ID+":"+k, "ticket-"+a.ID+"-"+k)
		}
	}
}

// errcodeOf is the refusal code of an answer: errcode, or Feishu's code;
// -999 for none.
func errcodeOf(r reply) int {
	for _, k := range []string{"errcode", "code"} {
		if v, ok := r.body[k].(float64); ok {
			return int(v)
		}
	}
	return -999
}

// TestCompat_badInput: every refusal is HTTP 200 with the upstream's
// errcode and never a token or a ticket. A parameter a route does not read
// is not bad input (TestCompat_tokens): the upstreams ignore it.
func TestCompat_badInput(t *testing.T) {
	e, _ := newCompatEnv(t)
	e.writeAll(t)
	const q = "/cgi-bin/token?grant_type=client_credential"
	const st = "/cgi-bin/stable_token"
	const tk = "/cgi-bin/ticket/getticket"
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"missing appid", "GET", q + "&secret=mp-secret", "", 41002},
		{"empty appid", "GET", q + "&appid=&secret=mp-secret", "", 41002},
		{"missing secret", "GET", q + "&appid=wxmp", "", 41004},
		{"missing grant_type", "GET", "/cgi-bin/token?appid=wxmp&secret=mp-secret", "", 40002},
		{"wrong grant_type", "GET", "/cgi-bin/token?grant_type=password&appid=wxmp&secret=mp-secret", "", 40002},
		{"unknown appid", "GET", q + "&appid=wxnope&secret=mp-secret", "", 40013},
		{"wrong secret", "GET", q + "&appid=wxmp&secret=mp-secreT", "", 40125},
		{"another app's secret", "GET", q + "&appid=wxmp&secret=st-secret", "", 40125},
		{"a WeCom corpid", "GET", q + "&appid=ww1&secret=hr-secret", "", 40013},
		{"repeated appid", "GET", q + "&appid=wxmp&appid=wxst&secret=mp-secret", "", 40097},
		{"repeated secret", "GET", q + "&appid=wxmp&secret=mp-secret&secret=mp-secret", "", 40097},
		{"bad escape", "GET", q + "&appid=wxmp&secret=%zz", "", 40097},
		{"huge query", "GET", q + "&appid=wxmp&secret=mp-secret&pad=" + strings.Repeat("x", 5000), "", 40097},
		{"POST to token", "POST", q + "&appid=wxmp&secret=mp-secret", "", 43001},
		{"GET stable", "GET", st + "?grant_type=client_credential&appid=wxst&secret=st-secret", "", 43002},
		{"stable empty body", "POST", st, "", 44002},
		{"stable not JSON", "POST", st, "grant_type=client_credential", 47001},
		{"stable array", "POST", st, `["client_credential"]`, 47001},
		{"stable trailing data", "POST", st, `{"grant_type":"client_credential","appid":"wxst","secret":"st-secret"} {}`, 47001},
		{"stable repeated unknown field", "POST", st, `{"grant_type":"client_credential","appid":"wxst","secret":"st-secret","x":1,"x":2}`, 40097},
		{"stable repeated field", "POST", st, `{"grant_type":"client_credential","appid":"wxst","secret":"st-secret","appid":"wxst"}`, 40097},
		{"stable force_refresh string", "POST", st, `{"grant_type":"client_credential","appid":"wxst","secret":"st-secret","force_refresh":"true"}`, 47001},
		{"stable appid number", "POST", st, `{"grant_type":"client_credential","appid":1,"secret":"st-secret"}`, 47001},
		{"stable huge body", "POST", st, `{"grant_type":"client_credential","appid":"wxst","secret":"` + strings.Repeat("s", 9000) + `"}`, 40097},
		{"stable missing secret", "POST", st, `{"grant_type":"client_credential","appid":"wxst"}`, 41004},
		{"stable wrong grant_type", "POST", st, `{"grant_type":"x","appid":"wxst","secret":"st-secret"}`, 40002},
		{"stable unknown appid", "POST", st, `{"grant_type":"client_credential","appid":"wxnope","secret":"st-secret"}`, 40013},
		{"stable wrong secret", "POST", st, `{"grant_type":"client_credential","appid":"wxst","secret":"nope"}`, 40125},
		{"ticket no token", "GET", tk + "?type=jsapi", "", 41001},
		{"ticket unknown token", "GET", tk + "?access_token=tok-nope&type=jsapi", "", 40001},
		{"ticket huge token", "GET", tk + "?access_token=" + strings.Repeat("t", 3000) + "&type=jsapi", "", 40001},
		{"ticket WeCom token", "GET", tk + "?access_token=tok-hr&type=jsapi", "", 40001},
		{"ticket token of an app without tickets", "GET", tk + "?access_token=tok-dual-classic&type=jsapi", "", 40001},
		{"ticket no type", "GET", tk + "?access_token=tok-mp", "", 40097},
		{"ticket bad type", "GET", tk + "?access_token=tok-mp&type=agent_config", "", 40097},
		{"ticket kind not kept", "GET", tk + "?access_token=tok-st&type=wx_card", "", 40097},
		{"ticket repeated type", "GET", tk + "?access_token=tok-mp&type=jsapi&type=wx_card", "", 40097},
		{"ticket POST", "POST", tk + "?access_token=tok-mp&type=jsapi", "", 43001},
		{"wecom missing corpid", "GET", "/cgi-bin/gettoken?corpsecret=hr-secret", "", 41002},
		{"wecom missing secret", "GET", "/cgi-bin/gettoken?corpid=ww1", "", 41004},
		{"wecom unknown corp", "GET", "/cgi-bin/gettoken?corpid=ww9&corpsecret=hr-secret", "", 40013},
		{"wecom wrong secret", "GET", "/cgi-bin/gettoken?corpid=ww1&corpsecret=nope", "", 40001},
		{"wecom repeated corpid", "GET", "/cgi-bin/gettoken?corpid=ww1&corpid=ww1&corpsecret=hr-secret", "", 40058},
		{"wecom ticket unknown token", "GET", "/cgi-bin/get_jsapi_ticket?access_token=tok-nope", "", 40014},
		{"wecom ticket WeChat token", "GET", "/cgi-bin/get_jsapi_ticket?access_token=tok-mp", "", 40014},
		{"wecom ticket missing token", "GET", "/cgi-bin/get_jsapi_ticket", "", 41001},
		{"wecom agent ticket bad type", "GET", "/cgi-bin/ticket/get?access_token=tok-hr&type=jsapi", "", 40058},
		{"wecom agent kind not kept", "GET", "/cgi-bin/ticket/get?access_token=tok-hr2&type=agent_config", "", 40058},
		{"feishu GET", "GET", "/open-apis/auth/v3/tenant_access_token/internal?app_id=cli_1&app_secret=fs-secret", "", 10003},
		{"feishu missing secret", "POST", "/open-apis/auth/v3/tenant_access_token/internal", `{"app_id":"cli_1"}`, 10003},
		{"feishu unknown app", "POST", "/open-apis/auth/v3/tenant_access_token/internal", `{"app_id":"cli_9","app_secret":"fs-secret"}`, 10003},
		{"feishu wrong secret", "POST", "/open-apis/auth/v3/tenant_access_token/internal", `{"app_id":"cli_1","app_secret":"nope"}`, 10014},
		{"feishu repeated field", "POST", "/open-apis/auth/v3/tenant_access_token/internal", `{"app_id":"cli_1","app_secret":"fs-secret","app_id":"cli_1"}`, 10003},
		{"feishu not JSON", "POST", "/open-apis/auth/v3/tenant_access_token/internal", `app_id=cli_1`, 10003},
		{"dingtalk missing secret", "GET", "/gettoken?appkey=dingkey", "", 40035},
		{"dingtalk unknown appkey", "GET", "/gettoken?appkey=nope&appsecret=dt-secret", "", 40096},
		{"dingtalk wrong secret", "GET", "/gettoken?appkey=dingkey&appsecret=nope", "", 40096},
		{"dingtalk repeated appkey", "GET", "/gettoken?appkey=dingkey&appkey=dingkey&appsecret=dt-secret", "", 40035},
		{"dingtalk POST", "POST", "/gettoken?appkey=dingkey&appsecret=dt-secret", "", 43001},
		{"dingtalk ticket unknown token", "GET", "/get_jsapi_ticket?access_token=tok-nope", "", 40014},
		{"dingtalk ticket WeChat token", "GET", "/get_jsapi_ticket?access_token=tok-mp", "", 40014},
	}
	for _, tt := range tests {
		r := e.do(t, tt.method, tt.path, tt.body)
		msg, _ := r.body["errmsg"].(string)
		if m, ok := r.body["msg"].(string); ok {
			msg = m
		}
		if r.Code != 200 || errcodeOf(r) != tt.want || msg == "" {
			t.Errorf("%s: %d %s, want HTTP 200 errcode %d", tt.name, r.Code, r.raw, tt.want)
		}
		for _, leak := range []string{"tok-", "ticket-", "-secret"} {
			if strings.Contains(r.raw, leak) {
				t.Errorf("%s: the refusal holds %q: %s", tt.name, leak, r.raw)
			}
		}
	}
}

// TestCompat_tokens: each token route answers its upstream's envelope with
// the stored token and its true remaining life. The envelopes are the
// platforms' documented examples: WeChat's {"access_token":"ACCESS_TOKEN",
// "expires_in":7200} (developers.weixin.qq.com, "Get_access_token"), and
// those UPSTREAM.md quotes for WeCom, Feishu, DingTalk and the tickets.
func TestCompat_tokens(t *testing.T) {
	e, _ := newCompatEnv(t)
	e.writeAll(t)
	const fsPath = "/open-apis/auth/v3/tenant_access_token/internal"
	tests := []struct {
		name, method, path, body, ctype, token string
		envelope                               []string // the answer's keys
	}{
		{"classic", "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxmp&secret=mp-secret", "", "application/json; encoding=utf-8", "tok-mp", []string{"access_token", "expires_in"}},
		{"classic, a parameter it does not read (PowerWeChat's neededText)", "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxmp&secret=mp-secret&neededText=", "", "application/json; encoding=utf-8", "tok-mp", []string{"access_token", "expires_in"}},
		{"stable, a field it does not read", "POST", "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"wxst","secret":"st-secret","scope":"x"}`, "application/json; encoding=utf-8", "tok-st", []string{"access_token", "expires_in"}},
		{"classic of a stable app", "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxst&secret=st-secret", "", "application/json; encoding=utf-8", "tok-st", []string{"access_token", "expires_in"}},
		{"stable", "POST", "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"wxst","secret":"st-secret","force_refresh":false}`, "application/json; encoding=utf-8", "tok-st", []string{"access_token", "expires_in"}},
		{"stable without force_refresh", "POST", "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"wxmp","secret":"mp-secret"}`, "application/json; encoding=utf-8", "tok-mp", []string{"access_token", "expires_in"}},
		{"dual appid, classic route", "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxdual&secret=dual-secret", "", "application/json; encoding=utf-8", "tok-dual-classic", []string{"access_token", "expires_in"}},
		{"dual appid, stable route", "POST", "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"wxdual","secret":"dual-secret"}`, "application/json; encoding=utf-8", "tok-dual-stable", []string{"access_token", "expires_in"}},
		{"wecom", "GET", "/cgi-bin/gettoken?corpid=ww1&corpsecret=hr-secret", "", "application/json; charset=UTF-8", "tok-hr", []string{"errcode", "errmsg", "access_token", "expires_in"}},
		{"wecom, the corp's other app", "GET", "/cgi-bin/gettoken?corpid=ww1&corpsecret=hr2-secret", "", "application/json; charset=UTF-8", "tok-hr2", []string{"errcode", "errmsg", "access_token", "expires_in"}},
		{"feishu", "POST", fsPath, `{"app_id":"cli_1","app_secret":"fs-secret"}`, "application/json; charset=utf-8", "tok-fs", []string{"code", "msg", "tenant_access_token", "expire"}},
		{"dingtalk", "GET", "/gettoken?appkey=dingkey&appsecret=dt-secret", "", "application/json;charset=utf-8", "tok-dt", []string{"errcode", "errmsg", "access_token", "expires_in"}},
		{"wechat ticket", "GET", "/cgi-bin/ticket/getticket?access_token=tok-mp&type=wx_card", "", "application/json; encoding=utf-8", "ticket-mp-wx_card", []string{"errcode", "errmsg", "ticket", "expires_in"}},
		{"wecom corp ticket", "GET", "/cgi-bin/get_jsapi_ticket?access_token=tok-hr", "", "application/json; charset=UTF-8", "ticket-hr-jsapi", []string{"errcode", "errmsg", "ticket", "expires_in"}},
		{"wecom agent ticket", "GET", "/cgi-bin/ticket/get?access_token=tok-hr&type=agent_config", "", "application/json; charset=UTF-8", "ticket-hr-agent_config", []string{"errcode", "errmsg", "ticket", "expires_in"}},
		{"dingtalk ticket", "GET", "/get_jsapi_ticket?access_token=tok-dt", "", "application/json;charset=utf-8", "ticket-dt-jsapi", []string{"errcode", "errmsg", "ticket", "expires_in"}},
	}
	for _, tt := range tests {
		r := e.do(t, tt.method, tt.path, tt.body)
		var got string
		for _, k := range []string{"access_token", "tenant_access_token", "ticket"} {
			if v, ok := r.body[k].(string); ok {
				got = v
			}
		}
		exp, _ := r.body["expires_in"].(float64)
		if v, ok := r.body["expire"].(float64); ok {
			exp = v
		}
		// Written for 2 h with a 1 m safety margin: 7140 s of key TTL left.
		if r.Code != 200 || got != tt.token || exp < 7130 || exp > 7140 || errcodeOf(r) > 0 || r.Header().Get("Content-Type") != tt.ctype || len(r.body) != len(tt.envelope) {
			t.Errorf("%s: %d %q %s, want %s", tt.name, r.Code, r.Header().Get("Content-Type"), r.raw, tt.token)
		}
		for _, k := range tt.envelope {
			if _, ok := r.body[k]; !ok {
				t.Errorf("%s: no %q in %s", tt.name, k, r.raw)
			}
		}
	}
}

// TestCompat_noValidToken: -1 "system busy" until a token is stored.
func TestCompat_noValidToken(t *testing.T) {
	e, _ := newCompatEnv(t)
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/cgi-bin/token?grant_type=client_credential&appid=wxmp&secret=mp-secret", ""},
		{"POST", "/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"wxst","secret":"st-secret","force_refresh":true}`},
		{"GET", "/cgi-bin/gettoken?corpid=ww1&corpsecret=hr-secret", ""},
		{"POST", "/open-apis/auth/v3/tenant_access_token/internal", `{"app_id":"cli_1","app_secret":"fs-secret"}`},
		{"GET", "/gettoken?appkey=dingkey&appsecret=dt-secret", ""},
	} {
		if r := e.do(t, rt.method, rt.path, rt.body); r.Code != 200 || errcodeOf(r) != -1 {
			t.Errorf("%s %s: %d %s, want errcode -1", rt.method, rt.path, r.Code, r.raw)
		}
	}
	e.writeToken(t, "mp", "tok-mp") // a token, no ticket yet
	if r := e.do(t, "GET", "/cgi-bin/ticket/getticket?access_token=tok-mp&type=jsapi", ""); errcodeOf(r) != -1 {
		t.Errorf("no ticket yet: %s, want errcode -1", r.raw)
	}
}

// TestCompat_wrongSecret_counted: a wrong secret is counted per app, never
// with the secret; a changed secret (secret_file) applies at once.
func TestCompat_wrongSecret_counted(t *testing.T) {
	var secret atomic.Value
	secret.Store("old-secret")
	apps := []App{{ID: "mp", Provider: "wechat", AppID: "wxmp", Secret: func() string { return secret.Load().(string) }}}
	e := newEnvWith(t, func(c *Config) { c.Apps = apps })
	e.writeToken(t, "mp", "tok-mp")
	path := "/cgi-bin/token?grant_type=client_credential&appid=wxmp&secret="
	if r := e.do(t, "GET", path+"old-secret", ""); r.body["access_token"] != "tok-mp" {
		t.Fatalf("old secret: %s", r.raw)
	}
	secret.Store("new-secret")
	for _, s := range []string{"old-secret", "guess-1"} {
		if r := e.do(t, "GET", path+s, ""); errcodeOf(r) != 40125 {
			t.Fatalf("%s after rotation: %s", s, r.raw)
		}
	}
	if r := e.do(t, "GET", path+"new-secret", ""); r.body["access_token"] != "tok-mp" {
		t.Fatalf("new secret: %s", r.raw)
	}
	body := e.do(t, "GET", "/metrics", "").raw
	if !strings.Contains(body, `tokend_compat_wrong_secret_total{app="mp"} 2`) || strings.Contains(body, "guess-1") {
		t.Fatalf("metrics:\n%s", body)
	}
}

// TestCompat_forceRefresh: stable_token force_refresh reports the current
// token to Config.Refresh and answers what it returns; when it returns
// nothing (timeout, cooldown), the current token. (httpapi's
// TestCompat_forceRefresh runs it against the real compare-and-refresh.)
func TestCompat_forceRefresh(t *testing.T) {
	var reported []string
	answer := reader.Token{}
	e := newEnvWith(t, func(c *Config) {
		c.Apps = compatApps()
		c.Refresh = func(_ context.Context, app, tok string, maxWait time.Duration) (reader.Token, bool) {
			reported = append(reported, fmt.Sprintf("%s %s %s", app, tok, maxWait))
			return answer, answer.Value != ""
		}
	})
	e.writeToken(t, "st", "tok-A")
	body := `{"grant_type":"client_credential","appid":"wxst","secret":"st-secret","force_refresh":true}`
	if r := e.do(t, "POST", "/cgi-bin/stable_token", body); r.body["access_token"] != "tok-A" {
		t.Fatalf("no new token: %s, want the current one", r.raw)
	}
	answer = reader.Token{Value: "tok-B", ExpiresAt: time.Now().Add(time.Hour)}
	if r := e.do(t, "POST", "/cgi-bin/stable_token", body); r.body["access_token"] != "tok-B" {
		t.Fatalf("new token: %s", r.raw)
	}
	if want := "st tok-A 5s"; len(reported) != 2 || reported[0] != want || reported[1] != want {
		t.Fatalf("reports %q, want twice %q", reported, want)
	}
}
