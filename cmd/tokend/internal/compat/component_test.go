package compat

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/store"
	oplat "github.com/tokend/tokend/store/platform"
)

// newComponentEnv: component "op" (appid wxcomp, secret comp-secret), an
// app "mp" of the same appid (the app routes must not serve the
// component), authorizers read from the store, and the client key
// "client-key" allowed token on everything.
func newComponentEnv(t *testing.T) (*env, *clocktesting.FakeClock) {
	t.Helper()
	var e *env
	clk := clocktesting.NewFakeClock(compatT0)
	e = newEnvWith(t, func(c *Config) {
		c.Clock = clk
		c.Apps = []App{
			{ID: "op", Provider: ComponentProvider, AppID: "wxcomp", Secret: func() string { return "comp-secret" }},
			{ID: "mp", Provider: "wechat", AppID: "wxcomp", Secret: func() string { return "mp-secret" }},
		}
		c.Authorizer = func(ctx context.Context, component, appid string) (oplat.Authorizer, error) {
			return oplat.New(e.store).Authorizer(ctx, component, appid)
		}
		c.Status = func(ctx context.Context, app string) (store.Status, error) { return e.store.Status(ctx, app) }
		c.ClientKey = func(_ *http.Request, key string, apps []string, action string) (string, bool) {
			return apps[0], key == "client-key" && action == "token"
		}
	})
	return e, clk
}

const (
	componentTokenPath  = "/cgi-bin/component/api_component_token"
	authorizerTokenPath = "/cgi-bin/component/api_authorizer_token"
)

// TestCompat_componentRoutes: api_component_token answers the stored
// component token for the component's secret or a client key, ignoring
// the verify ticket; api_authorizer_token answers an authorizer's token
// and its stored refresh token to the holder of the component's current
// (or overlapping previous) token; every refusal is WeChat's errcode with
// no token in it.
func TestCompat_componentRoutes(t *testing.T) {
	e, clk := newComponentEnv(t)
	ctx := context.Background()
	compBody := func(secret string) string {
		return `{"component_appid":"wxcomp","component_appsecret":"` + secret + `","component_verify_ticket":"whatever"}`
	}
	if r := e.do(t, "POST", componentTokenPath, compBody("comp-secret")); errcodeOf(r) != -1 {
		t.Fatalf("no component token yet: %s, want -1", r.raw)
	}
	e.writeToken(t, "op", "tok-op")
	e.writeToken(t, "mp", "tok-mp")
	for _, secret := range []string{"comp-secret", "client-key"} {
		r := e.do(t, "POST", componentTokenPath, compBody(secret))
		exp, _ := r.body["expires_in"].(float64)
		if r.Code != 200 || r.body["component_access_token"] != "tok-op" || exp < 7130 || exp > 7140 || len(r.body) != 2 {
			t.Fatalf("api_component_token with %s: %d %s", secret, r.Code, r.raw)
		}
	}
	if r := e.do(t, "POST", componentTokenPath, `{"component_appid":"wxcomp","component_appsecret":"comp-secret"}`); r.body["component_access_token"] != "tok-op" {
		t.Fatalf("without a verify ticket: %s", r.raw)
	}
	if err := oplat.New(e.store).PutAuthorizers(ctx, "op", oplat.Authorizer{AppID: "wxauth1", RefreshToken: "refreshtoken@@@r1"},
		oplat.Authorizer{AppID: "wxauth2", RefreshToken: "refreshtoken@@@r2"}, oplat.Authorizer{AppID: "wxauth3", RefreshToken: "refreshtoken@@@r3"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetStatus(ctx, "op/wxauth3", store.Status{Waiting: "input", WaitingFor: "reauthorization", LastErrorCode: 61023}); err != nil {
		t.Fatal(err)
	}
	e.writeToken(t, "op/wxauth1", "tok-auth1")
	authBody := func(appid string) string {
		return `{"component_appid":"wxcomp","authorizer_appid":"` + appid + `","authorizer_refresh_token":"an-old-one"}`
	}
	r := e.do(t, "POST", authorizerTokenPath+"?component_access_token=tok-op", authBody("wxauth1"))
	exp, _ := r.body["expires_in"].(float64)
	if r.Code != 200 || r.body["authorizer_access_token"] != "tok-auth1" || r.body["authorizer_refresh_token"] != "refreshtoken@@@r1" ||
		exp < 7130 || exp > 7140 || len(r.body) != 3 {
		t.Fatalf("api_authorizer_token: %d %s", r.Code, r.raw)
	}
	e.writeToken(t, "op", "tok-op-2")                    // rotated: the previous token is accepted within the overlap
	clk.Step(2 * time.Second)                            // no events here: the next miss re-reads
	for _, tok := range []string{"tok-op-2", "tok-op"} { // the new one read first: the old one is the previous
		if r := e.do(t, "POST", authorizerTokenPath+"?component_access_token="+tok, authBody("wxauth1")); r.body["authorizer_access_token"] != "tok-auth1" {
			t.Fatalf("with %s after a rotation: %s", tok, r.raw)
		}
	}
	tests := []struct {
		name, method, path, body string
		errcode                  int
	}{
		{"wrong secret", "POST", componentTokenPath, compBody("mp-secret"), 40125},
		{"client key, another action", "POST", componentTokenPath, compBody("other-key"), 40125},
		{"unknown component appid", "POST", componentTokenPath, `{"component_appid":"wxnope","component_appsecret":"comp-secret"}`, 40013},
		{"no appid", "POST", componentTokenPath, `{"component_appsecret":"comp-secret"}`, 41002},
		{"no secret", "POST", componentTokenPath, `{"component_appid":"wxcomp"}`, 41004},
		{"GET", "GET", componentTokenPath, "", 43002},
		{"empty body", "POST", componentTokenPath, "", 44002},
		{"not JSON", "POST", componentTokenPath, "component_appid=wxcomp", 47001},
		{"a field twice", "POST", componentTokenPath, `{"component_appid":"wxcomp","component_appid":"wxcomp","component_appsecret":"comp-secret"}`, 40097},
		{"app route, component secret", "GET", "/cgi-bin/token?grant_type=client_credential&appid=wxcomp&secret=comp-secret", "", 40125},
		{"no component token", "POST", authorizerTokenPath, authBody("wxauth1"), 41001},
		{"component token twice", "POST", authorizerTokenPath + "?component_access_token=tok-op-2&component_access_token=tok-op-2", authBody("wxauth1"), 40097},
		{"unknown component token", "POST", authorizerTokenPath + "?component_access_token=tok-guess", authBody("wxauth1"), 40001},
		{"an app's token", "POST", authorizerTokenPath + "?component_access_token=tok-mp", authBody("wxauth1"), 40001},
		{"another component's appid", "POST", authorizerTokenPath + "?component_access_token=tok-op-2", `{"component_appid":"wxnope","authorizer_appid":"wxauth1"}`, 40013},
		{"no authorizer appid", "POST", authorizerTokenPath + "?component_access_token=tok-op-2", `{"component_appid":"wxcomp"}`, 41002},
		{"bad authorizer appid", "POST", authorizerTokenPath + "?component_access_token=tok-op-2", authBody("wx/1"), 40097},
		{"authorizer not kept", "POST", authorizerTokenPath + "?component_access_token=tok-op-2", authBody("wxauth9"), 61023},
		{"authorizer without a token yet", "POST", authorizerTokenPath + "?component_access_token=tok-op-2", authBody("wxauth2"), -1},
		{"authorizer that needs re-authorization", "POST", authorizerTokenPath + "?component_access_token=tok-op-2", authBody("wxauth3"), 61023},
		{"component token as an app token", "GET", "/cgi-bin/ticket/getticket?access_token=tok-op-2&type=jsapi", "", 40001},
	}
	for _, tt := range tests {
		r := e.do(t, tt.method, tt.path, tt.body)
		if r.Code != 200 || errcodeOf(r) != tt.errcode {
			t.Errorf("%s: %d %s, want errcode %d", tt.name, r.Code, r.raw, tt.errcode)
		}
		for _, secret := range []string{"tok-op", "tok-auth1", "refreshtoken@@@", "comp-secret"} {
			if strings.Contains(r.raw, secret) {
				t.Errorf("%s: refusal shows %s: %s", tt.name, secret, r.raw)
			}
		}
	}
}
