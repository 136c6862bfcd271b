package wechattest

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
)

const (
	corpID       = "ww0000000000000001"
	agentID      = "1000002"
	agentID2     = "1000003"
	wecomSecret  = "wecom-secret-0000000000000000000001"
	wecomSecret2 = "wecom-secret-0000000000000000000002"
	feishuID     = "cli_0000000000000001"
	feishuSecret = "feishu-secret-00000000000000001"
	dingKey      = "ding0000000000000001"
	dingSecret   = "ding-secret-000000000000000000001"
)

// newMultiFake is newFake with a WeCom corp of two apps, a Feishu app and
// a DingTalk app registered beside the WeChat account.
func newMultiFake(t *testing.T, cfg Config) *fake {
	t.Helper()
	f := newFake(t, cfg)
	for _, a := range []struct{ agent, secret string }{{agentID, wecomSecret}, {agentID2, wecomSecret2}} {
		if err := f.AddWeCom(corpID, a.agent, a.secret); err != nil {
			t.Fatal(err)
		}
	}
	f.AddFeishu(feishuID, feishuSecret)
	f.AddDingTalk(dingKey, dingSecret)
	return f
}

func (f *fake) wecomTokenAs(corpid, sec string) answer {
	f.t.Helper()
	return f.get("/cgi-bin/gettoken", url.Values{"corpid": {corpid}, "corpsecret": {sec}})
}

func (f *fake) wecomToken(sec string) answer {
	f.t.Helper()
	return f.mustToken(f.wecomTokenAs(corpID, sec))
}

func (f *fake) feishuTokenAs(appID, sec string) answer {
	f.t.Helper()
	return f.post("/open-apis/auth/v3/tenant_access_token/internal", map[string]string{"app_id": appID, "app_secret": sec})
}

func (f *fake) feishuToken() answer {
	f.t.Helper()
	a := f.feishuTokenAs(feishuID, feishuSecret)
	if a.Code != 0 || a.Msg != "ok" || a.TenantAccessToken == "" {
		f.t.Fatalf("want a tenant token, got %+v", a)
	}
	return a
}

func (f *fake) dingTokenAs(key, sec string) answer {
	f.t.Helper()
	return f.get("/gettoken", url.Values{"appkey": {key}, "appsecret": {sec}})
}

func (f *fake) dingToken() answer {
	f.t.Helper()
	return f.mustToken(f.dingTokenAs(dingKey, dingSecret))
}

// ticketAt calls the ticket endpoint at path with tok and, if not empty,
// type typ.
func (f *fake) ticketAt(path, tok, typ string) answer {
	f.t.Helper()
	q := url.Values{"access_token": {tok}}
	if typ != "" {
		q.Set("type", typ)
	}
	return f.get(path, q)
}

// mustTicket fails unless a is a ticket answer in the ok envelope.
func (f *fake) mustTicket(a answer) answer {
	f.t.Helper()
	if a.ErrCode != 0 || a.ErrMsg != "ok" || a.Ticket == "" {
		f.t.Fatalf("want a ticket, got %+v", a)
	}
	return a
}

// feishuProbe calls Feishu's outbound_ip with tok as a bearer token ("":
// no Authorization header) and returns the answer's code.
func (f *fake) feishuProbe(tok string) answer {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.URL+"/open-apis/event/v1/outbound_ip", nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return f.do(req)
}

var wecomHintRE = regexp.MustCompile(`, hint: \[[0-9a-f-]{26}\], more info at https://open\.work\.weixin\.qq\.com/devtool/query\?e=(-?\d+)$`)

// wantPlatformErr checks an error answer of platform p: its errcode (code
// for Feishu), envelope and content type, and that it carries no token.
// Feishu's token refusals (99991661, 99991663) come with HTTP 400, all
// other errors with 200.
func wantPlatformErr(t *testing.T, a answer, p string, code int) {
	t.Helper()
	if a.jsonErr != nil {
		t.Fatalf("error answer is not json (%s): %v", a.contentType, a.jsonErr)
	}
	status, ct := http.StatusOK, newPlatforms(Config{}.withDefaults())[p].ContentType
	got, msg := a.ErrCode, a.ErrMsg
	switch p {
	case PlatformFeishu:
		got, msg = a.Code, a.Msg
		if code == feishuInvalidToken || code == feishuMissingToken {
			status = http.StatusBadRequest
		}
	case PlatformWeCom:
		if m := wecomHintRE.FindStringSubmatch(msg); m == nil || m[1] != strconv.Itoa(code) {
			t.Errorf("wecom errmsg %q lacks the hint and link for %d", msg, code)
		}
	}
	if got != code || msg == "" {
		t.Fatalf("%s: code %d (%q), want %d", p, got, msg, code)
	}
	if a.status != status || a.contentType != ct {
		t.Errorf("%s error envelope: status %d, content type %q; want %d, %q", p, a.status, a.contentType, status, ct)
	}
	if a.AccessToken != "" || a.TenantAccessToken != "" || a.Ticket != "" {
		t.Errorf("error answer carries a credential: %+v", a)
	}
}
