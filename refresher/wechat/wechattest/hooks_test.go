package wechattest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/platforms"
)

// hookStatus calls GET /check with q and decodes the Status.
func (f *fake) hookStatus(q url.Values) Status {
	f.t.Helper()
	resp, err := f.hc.Get(f.URL + "/check?" + q.Encode())
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		f.t.Fatal(err)
	}
	return st
}

func TestHooks_appsRotateCheck(t *testing.T) {
	f := newFake(t, Config{Lifetime: time.Hour})
	for _, tc := range []struct {
		body map[string]string
		key  string
	}{
		{map[string]string{"appid": "wxhook", "secret": "s1"}, "wxhook"},
		{map[string]string{"platform": "wecom", "appid": corpID, "agentid": agentID, "secret": wecomSecret}, WeComKey(corpID, agentID)},
		{map[string]string{"platform": "feishu", "appid": feishuID, "secret": feishuSecret}, FeishuKey(feishuID)},
		{map[string]string{"platform": "dingtalk", "appid": dingKey, "secret": dingSecret}, DingTalkKey(dingKey)},
	} {
		var got struct {
			answer
			App string `json:"app"`
		}
		a := f.post("/apps", tc.body)
		if err := json.Unmarshal([]byte(a.raw), &got); err != nil || a.ErrCode != 0 || got.App != tc.key {
			t.Fatalf("POST /apps %v: %s", tc.body, a.raw)
		}
	}
	for _, bad := range []map[string]string{
		{"platform": "nope", "appid": "x", "secret": "y"}, {"appid": "x"},
		{"platform": "wecom", "appid": corpID, "agentid": "1000009", "secret": wecomSecret},
	} {
		wantCode(t, f.post("/apps", bad), 40097)
	}
	wantCode(t, f.post("/apps", []byte("nope")), 40097)

	tok := f.wecomToken(wecomSecret).AccessToken
	a := f.post("/rotate?"+url.Values{"app": {WeComKey(corpID, agentID)}}.Encode(), nil)
	if a.AccessToken == "" || a.AccessToken == tok || a.ExpiresIn != 3600 {
		t.Fatalf("rotate wecom: %+v", a)
	}
	if st := f.hookStatus(url.Values{"access_token": {tok}}); st.Code != CodeNotLatest || st.Platform != PlatformWeCom || st.App != WeComKey(corpID, agentID) || st.Kind != "token" {
		t.Fatalf("check of the rotated-away token: %+v", st)
	}
	want := Status{Code: CodeOK, Platform: PlatformWeCom, App: WeComKey(corpID, agentID), Kind: "token", ExpiresAt: start.Add(time.Hour)}
	if st := f.hookStatus(url.Values{"access_token": {a.AccessToken}}); st != want {
		t.Fatalf("check: %+v, want %+v", st, want)
	}
	for _, key := range []string{FeishuKey(feishuID), DingTalkKey(dingKey), "wxhook"} {
		if a := f.post("/rotate?app="+url.QueryEscape(key), nil); a.AccessToken == "" {
			t.Fatalf("rotate %s: %+v", key, a)
		}
	}
	wantCode(t, f.post("/rotate?app="+url.QueryEscape(FeishuKey("cli_unknown")), nil), 40013)
	wantCode(t, f.post("/rotate?app="+url.QueryEscape(FeishuKey(feishuID))+"&endpoint=stable_token", nil), 40013)

	tk := f.mustTicket(f.ticketAt(wecomJSAPI, a.AccessToken, "")).Ticket
	r := f.post("/rotate_ticket?"+url.Values{"owner": {WeComCorpKey(corpID)}, "kind": {KindJSAPI}}.Encode(), nil)
	if r.Ticket == "" || r.Ticket == tk || r.ExpiresIn != 3600 {
		t.Fatalf("rotate_ticket: %+v", r)
	}
	if st := f.hookStatus(url.Values{"ticket": {tk}}); st.Code != CodeNotLatest || st.App != WeComCorpKey(corpID) || st.Kind != KindJSAPI {
		t.Fatalf("check of the rotated ticket: %+v", st)
	}
	if st := f.hookStatus(url.Values{"ticket": {r.Ticket}}); !st.Live() {
		t.Fatalf("check of the new ticket: %+v", st)
	}
	wantCode(t, f.post("/rotate_ticket?owner=nobody&kind=jsapi", nil), 40013)
	wantCode(t, f.get("/check", url.Values{"ticket": {tk}, "access_token": {tok}}), 40097)
	if st := f.hookStatus(nil); st.Code != CodeMissing {
		t.Fatalf("empty check: %+v", st)
	}
	au := f.Audit()
	if au.OutOfBand[WeComKey(corpID, agentID)+"/token"] != 1 || au.OutOfBand["wxhook/token"] != 1 || au.OutOfBand[WeComCorpKey(corpID)+"/jsapi"] != 1 {
		t.Fatalf("audit = %+v", au)
	}
}

func TestHooks_fault(t *testing.T) {
	f := newMultiFake(t, Config{})
	a := f.post("/fault", map[string]any{"errcode": 99991400, "endpoint": "feishu/tenant_access_token", "remaining": 1})
	wantCode(t, a, 0)
	wantPlatformErr(t, f.feishuTokenAs(feishuID, feishuSecret), PlatformFeishu, 99991400)
	f.feishuToken() // remaining 1: cleared

	wantCode(t, f.post("/fault", map[string]any{"errcode": 45033, "delay": "1ms"}), 0) // "": every token endpoint
	wantPlatformErr(t, f.wecomTokenAs(corpID, wecomSecret), PlatformWeCom, 45033)
	wantPlatformErr(t, f.dingTokenAs(dingKey, dingSecret), PlatformDingTalk, 45033)
	wantCode(t, f.classicAs(appID, secret), 45033)
	req, _ := http.NewRequest(http.MethodDelete, f.URL+"/fault", nil)
	wantCode(t, f.do(req), 0)
	f.wecomToken(wecomSecret)

	for _, bad := range []map[string]any{
		{"endpoint": "nope"}, {"delay": "soon"}, {"probability": 2}, {"http_status": 99},
	} {
		wantCode(t, f.post("/fault", bad), 40097)
	}
	if au := f.Audit(); au.Faults != 4 {
		t.Fatalf("audit = %+v", au)
	}
}

// Every endpoint a Fault can name is served, and an errcode fault answers
// in that endpoint's envelope.
func TestFault_everyEndpoint(t *testing.T) {
	f := newMultiFake(t, Config{})
	eps := f.Endpoints()
	if len(eps) != 14 || !slices.IsSorted(eps) || slices.Contains(eps, platforms.StableForce) {
		t.Fatalf("Endpoints() = %q", eps)
	}
	paths := map[string]string{
		epToken: "GET /cgi-bin/token", epStable: "POST /cgi-bin/stable_token", platforms.CallbackIP: "GET /cgi-bin/getcallbackip",
		platforms.Ticket: "GET " + getticket, platforms.ClearQuota: "POST /cgi-bin/clear_quota/v2",
		platforms.WeComToken: "GET /cgi-bin/gettoken", platforms.WeComJSAPI: "GET " + wecomJSAPI, platforms.WeComAgent: "GET " + wecomAgent,
		platforms.WeComDomainIP: "GET /cgi-bin/get_api_domain_ip", platforms.FeishuToken: "POST /open-apis/auth/v3/tenant_access_token/internal",
		platforms.FeishuIP: "GET /open-apis/event/v1/outbound_ip", platforms.DingTalkToken: "GET /gettoken",
		platforms.DingTalkTicket: "GET /get_jsapi_ticket", platforms.DingTalkCount: "POST /topapi/user/count",
	}
	for _, ep := range eps {
		route, ok := paths[ep]
		if !ok {
			t.Fatalf("no path for %q", ep)
		}
		p := f.endpoints[ep].platform.Name
		f.SetFault(Fault{Errcode: -1, Endpoint: ep})
		method, path, _ := strings.Cut(route, " ")
		req, _ := http.NewRequest(method, f.URL+path, nil)
		a := f.do(req)
		if p == PlatformWeChat {
			wantCode(t, a, -1)
		} else {
			wantPlatformErr(t, a, p, -1)
		}
	}
	if au := f.Audit(); au.Faults != len(eps) {
		t.Fatalf("faults = %d", au.Faults)
	}
}

func TestConfig_platformDefaults(t *testing.T) {
	cfg := Config{}.withDefaults()
	if cfg.TicketLifetime != 7200*time.Second || cfg.TicketRemainingExpiresIn || cfg.WeComRepeat != RenewKeep ||
		cfg.WeComAppTicketHourly != 100 || cfg.WeComCorpTicketHourly != 400 || cfg.WeComInvalidatedErrcode != 42001 ||
		cfg.FeishuRotateWindow != 30*time.Minute || cfg.FeishuAuthErrorStatus != 400 || cfg.DingTalkRepeat != RenewExtend {
		t.Fatalf("defaults: %+v", cfg)
	}
	for _, tc := range []struct{ lifetime, window time.Duration }{
		{31 * time.Minute, 30 * time.Minute}, {30 * time.Minute, 450 * time.Second}, {60 * time.Second, 15 * time.Second},
	} {
		if got := (Config{Lifetime: tc.lifetime}).withDefaults().FeishuRotateWindow; got != tc.window {
			t.Errorf("lifetime %s: window %s, want %s", tc.lifetime, got, tc.window)
		}
	}
	if cfg := (Config{Lifetime: time.Minute}).withDefaults(); cfg.TicketLifetime != time.Minute {
		t.Errorf("ticket lifetime follows Lifetime: %s", cfg.TicketLifetime)
	}
}

// The audit over HTTP carries the new maps.
func TestHooks_auditJSON(t *testing.T) {
	f := newMultiFake(t, Config{})
	f.mustTicket(f.ticketAt("/get_jsapi_ticket", f.dingToken().AccessToken, ""))
	resp, err := f.hc.Get(f.URL + "/audit")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var au Audit
	if err := json.Unmarshal(body, &au); err != nil {
		t.Fatal(err)
	}
	key := DingTalkKey(dingKey)
	if au.Fetches[key+"/token"] != 1 || au.Tickets[key+"/jsapi"] != 1 || au.TicketsIssued[key+"/jsapi"] != 1 || au.TotalFetches != 1 {
		t.Fatalf("audit over http: %s", body)
	}
}
