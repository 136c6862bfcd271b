package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

func TestParseFlags_platforms(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.wecom) != 1 || o.wecom[0] != demoWeCom || len(o.feishu) != 1 || o.feishu[0] != demoFeishu ||
		len(o.dingtalk) != 1 || o.dingtalk[0] != demoDingTalk {
		t.Fatalf("no app flag: one demo app per platform, got %+v", o)
	}
	c := o.cfg
	if c.TicketLifetime != 0 || c.TicketRemainingExpiresIn || c.WeComRepeat != wechattest.RenewDefault ||
		c.DingTalkRepeat != wechattest.RenewDefault || c.WeComAppTicketHourly != 100 || c.WeComCorpTicketHourly != 400 ||
		c.WeComInvalidatedErrcode != 42001 || c.FeishuRotateWindow != 0 || c.FeishuAuthErrorStatus != 400 {
		t.Fatalf("defaults: %+v", c)
	}

	o, err = parseFlags([]string{
		"-wecom", "ww1:1000002:s:1", "-feishu", "cli_1:fs", "-dingtalk", "ding1:ds",
		"-ticket-lifetime", "30s", "-ticket-expires-in", "remaining", "-wecom-repeat", "extend", "-dingtalk-repeat", "keep",
		"-wecom-app-ticket-hourly", "-1", "-wecom-corp-ticket-hourly", "7", "-feishu-rotate-window", "1m",
		"-wecom-invalidated-errcode", "40014", "-feishu-auth-status", "200",
	}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	c = o.cfg
	if len(o.apps) != 0 || o.wecom[0] != (wecomApp{"ww1", "1000002", "s:1"}) || o.feishu[0] != (app{"cli_1", "fs"}) ||
		o.dingtalk[0] != (app{"ding1", "ds"}) || c.TicketLifetime != 30*time.Second || !c.TicketRemainingExpiresIn ||
		c.WeComRepeat != wechattest.RenewExtend || c.DingTalkRepeat != wechattest.RenewKeep || c.WeComAppTicketHourly != -1 ||
		c.WeComCorpTicketHourly != 7 || c.FeishuRotateWindow != time.Minute || c.WeComInvalidatedErrcode != 40014 ||
		c.FeishuAuthErrorStatus != 200 {
		t.Fatalf("parsed %+v", o)
	}
	for _, args := range [][]string{
		{"-wecom", "ww1:1000002"}, {"-wecom", "ww1::s"}, {"-feishu", "cli_1"}, {"-dingtalk", ":s"},
		{"-ticket-expires-in", "half"}, {"-wecom-repeat", "sometimes"}, {"-dingtalk-repeat", ""},
		{"-ticket-lifetime", "-1s"}, {"-feishu-rotate-window", "2h"}, {"-feishu-rotate-window", "-1s"},
		{"-wecom-app-ticket-hourly", "0"}, {"-wecom-corp-ticket-hourly", "0"}, {"-wecom-invalidated-errcode", "0"},
		{"-feishu-auth-status", "99"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}

// answer is the union of the answers used below.
type answer struct {
	AccessToken       string `json:"access_token"`
	ExpiresIn         int    `json:"expires_in"`
	ErrCode           int    `json:"errcode"`
	Ticket            string `json:"ticket"`
	Code              int    `json:"code"`
	TenantAccessToken string `json:"tenant_access_token"`
	Expire            int    `json:"expire"`
	App               string `json:"app"`
}

func (s started) call(t *testing.T, method, path string, body any) answer {
	t.Helper()
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return a
}

// Every platform and the hooks, through the standalone server.
func TestRun_platforms(t *testing.T) {
	s := start(t, "-lifetime", "90s", "-overlap", "10s", "-ticket-lifetime", "60s", "-ticket-expires-in", "remaining",
		"-wecom", "ww1:1000002:wecom-secret", "-feishu", "cli_1:feishu-secret", "-dingtalk", "ding1:ding-secret")
	wc := s.call(t, "GET", "/cgi-bin/gettoken?corpid=ww1&corpsecret=wecom-secret", nil)
	if wc.AccessToken == "" || wc.ExpiresIn != 90 {
		t.Fatalf("wecom token: %+v", wc)
	}
	if a := s.call(t, "GET", "/cgi-bin/get_jsapi_ticket?access_token="+url.QueryEscape(wc.AccessToken), nil); a.Ticket == "" || a.ExpiresIn != 60 {
		t.Fatalf("wecom ticket: %+v", a)
	}
	if a := s.call(t, "POST", "/open-apis/auth/v3/tenant_access_token/internal",
		map[string]string{"app_id": "cli_1", "app_secret": "feishu-secret"}); a.TenantAccessToken == "" || a.Expire != 90 {
		t.Fatalf("feishu token: %+v", a)
	}
	dt := s.call(t, "GET", "/gettoken?appkey=ding1&appsecret=ding-secret", nil)
	tk := s.call(t, "GET", "/get_jsapi_ticket?access_token="+url.QueryEscape(dt.AccessToken), nil)
	if dt.AccessToken == "" || tk.Ticket == "" {
		t.Fatalf("dingtalk: %+v %+v", dt, tk)
	}
	if a := s.call(t, "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxdemo0000000001&secret=demosecret", nil); a.ErrCode != 40013 {
		t.Fatalf("no demo app when app flags are given: %+v", a)
	}

	if a := s.call(t, "POST", "/apps", map[string]string{"platform": "wecom", "appid": "ww1", "agentid": "1000003", "secret": "s2"}); a.App != "wecom:ww1:1000003" {
		t.Fatalf("POST /apps: %+v", a)
	}
	if a := s.call(t, "POST", "/rotate?app="+url.QueryEscape("dingtalk:ding1"), nil); a.AccessToken == "" || a.AccessToken == dt.AccessToken {
		t.Fatalf("rotate: %+v", a)
	}
	if a := s.call(t, "GET", "/check?access_token="+url.QueryEscape(dt.AccessToken), nil); a.Code != wechattest.CodeNotLatest || a.App != "dingtalk:ding1" {
		t.Fatalf("check rotated token: %+v", a)
	}
	if a := s.call(t, "POST", "/rotate_ticket?owner="+url.QueryEscape("dingtalk:ding1")+"&kind=jsapi", nil); a.Ticket == "" {
		t.Fatalf("rotate_ticket: %+v", a)
	}
	if a := s.call(t, "GET", "/check?ticket="+url.QueryEscape(tk.Ticket), nil); a.Code != wechattest.CodeNotLatest {
		t.Fatalf("check rotated ticket: %+v", a)
	}
	var au wechattest.Audit
	resp, err := s.hc.Get(s.base + "/audit")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&au); err != nil {
		t.Fatal(err)
	}
	if au.Fetches["wecom:ww1:1000002/token"] != 1 || au.Tickets["wecom:ww1:1000002/jsapi"] != 1 || au.OutOfBand["dingtalk:ding1/jsapi"] != 1 {
		t.Fatalf("audit %+v", au)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	out := s.logs.String()
	if !strings.Contains(out, "wecom:ww1:1000002") || strings.Contains(out, "-secret") {
		t.Errorf("logs must list the app keys and no secret:\n%s", out)
	}
}

func TestRun_duplicateWeComSecret(t *testing.T) {
	err := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-wecom", "ww1:1:same", "-wecom", "ww1:2:same"}, &bytes.Buffer{}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "wxsim: -wecom ww1:2: ") || strings.Contains(err.Error(), "same") {
		t.Fatalf("err = %v, want a -wecom error without the secret", err)
	}
}
