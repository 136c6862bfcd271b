package wechattest

import (
	"net/http"
	"testing"
	"time"
)

// Feishu: the same token while at least the window is left ("剩余有效期大于等于
// 30 分钟时，调用本接口会返回原有的 tenant_access_token"), a new one inside it,
// both valid until their own expiry. The first answer is the documented
// example's shape, {"code":0,"msg":"ok","tenant_access_token":"...",
// "expire":7200} (open.feishu.cn, auth-v3/auth/tenant_access_token_internal).
func TestFeishuToken_rotateWindow(t *testing.T) {
	f := newMultiFake(t, Config{})
	a1 := f.feishuToken()
	if a1.Expire != 7200 || a1.contentType != "application/json; charset=utf-8" {
		t.Fatalf("first answer %+v", a1)
	}
	f.clk.Step(90 * time.Minute) // exactly 30 min left: still the same
	if a := f.feishuToken(); a.TenantAccessToken != a1.TenantAccessToken || a.Expire != 1800 {
		t.Fatalf("with 30 min left: same=%v expire=%d", a.TenantAccessToken == a1.TenantAccessToken, a.Expire)
	}
	f.clk.Step(time.Nanosecond)
	a2 := f.feishuToken()
	if a2.TenantAccessToken == a1.TenantAccessToken || a2.Expire != 7200 {
		t.Fatalf("inside the window: rotated=%v expire=%d", a2.TenantAccessToken != a1.TenantAccessToken, a2.Expire)
	}
	if a := f.feishuToken(); a.TenantAccessToken != a2.TenantAccessToken {
		t.Fatal("after rotation the new token is returned")
	}
	f.clk.Step(30*time.Minute - 2*time.Nanosecond)
	if f.feishuProbe(a1.TenantAccessToken).Code != 0 || f.feishuProbe(a2.TenantAccessToken).Code != 0 {
		t.Fatal("old and new must both be valid until the old one's expiry")
	}
	f.clk.Step(time.Nanosecond)
	wantPlatformErr(t, f.feishuProbe(a1.TenantAccessToken), PlatformFeishu, feishuInvalidToken)
	if a := f.feishuProbe(a2.TenantAccessToken); a.Code != 0 || a.Msg != "success" || a.status != http.StatusOK {
		t.Fatalf("probe with the new token: %+v", a)
	}
	au := f.Audit()
	key := FeishuKey(feishuID)
	if au.Fetches[key+"/token"] != 4 || au.Issued[key+"/token"] != 2 || au.Probes[key+"/feishu/outbound_ip"] != 3 || au.Expired != 1 {
		t.Fatalf("audit = %+v", au)
	}
}

// With compressed time the default window scales to a quarter of Lifetime.
func TestFeishuToken_scaledWindow(t *testing.T) {
	f := newMultiFake(t, Config{Lifetime: 60 * time.Second})
	a1 := f.feishuToken()
	f.clk.Step(45 * time.Second)
	if a := f.feishuToken(); a.TenantAccessToken != a1.TenantAccessToken || a.Expire != 15 {
		t.Fatalf("15 s left of 60: %+v", a)
	}
	f.clk.Step(time.Second)
	if a := f.feishuToken(); a.TenantAccessToken == a1.TenantAccessToken {
		t.Fatal("inside the 15 s window a new token")
	}
}

func TestFeishuToken_errors(t *testing.T) {
	f := newMultiFake(t, Config{})
	for _, tc := range []struct {
		name string
		body any
		code int
	}{
		{"unknown app", map[string]string{"app_id": "cli_unknown", "app_secret": feishuSecret}, feishuInvalidParam},
		{"wrong secret", map[string]string{"app_id": feishuID, "app_secret": "wrong"}, feishuBadSecret},
		{"missing secret", map[string]string{"app_id": feishuID}, feishuInvalidParam},
		{"a WeChat appid", map[string]string{"app_id": appID, "app_secret": secret}, feishuInvalidParam},
		{"not json", []byte("{nope"), feishuInvalidParam},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := f.post("/open-apis/auth/v3/tenant_access_token/internal", tc.body)
			wantPlatformErr(t, a, PlatformFeishu, tc.code)
		})
	}
	if au := f.Audit(); au.TotalFetches != 0 || au.Errors["feishu/tenant_access_token/10003"] != 4 || au.Errors["feishu/tenant_access_token/10014"] != 1 {
		t.Fatalf("audit = %+v", au)
	}
}

func TestFeishuProbe_badTokens(t *testing.T) {
	f := newMultiFake(t, Config{FeishuAuthErrorStatus: http.StatusOK})
	tok := f.feishuToken().TenantAccessToken
	for _, bad := range []struct {
		tok  string
		code int
	}{{"", feishuMissingToken}, {"bogus", feishuInvalidToken}, {f.classic().AccessToken, feishuInvalidToken}} {
		a := f.feishuProbe(bad.tok)
		if a.Code != bad.code || a.status != http.StatusOK {
			t.Errorf("probe(%.8q): %d %+v, want %d with the configured status 200", bad.tok, a.status, a, bad.code)
		}
	}
	nt := f.RotateFeishu(feishuID)
	if nt == "" || nt == tok || f.RotateFeishu("cli_unknown") != "" {
		t.Fatal("RotateFeishu must issue a new token for a known app only")
	}
	if a := f.feishuProbe(tok); a.Code != feishuInvalidToken {
		t.Fatalf("rotated-away token: %+v", a)
	}
	if a := f.feishuToken(); a.TenantAccessToken != nt {
		t.Fatal("the token call must return the rotated-in token")
	}
	if f.call(nt) != CodeIllegal {
		t.Fatal("a Feishu token must not work on WeChat's paths")
	}
}
