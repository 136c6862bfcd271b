package callback

import (
	"context"
	"errors"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/platform"
)

// TestHandler_preAuthCodeAndAuthorize: the authorization page flow on
// any replica. Without a component token both calls refuse
// (openplatform.ErrNoComponentToken, no upstream call); then every PreAuthCode is a
// new upstream code, and the redirect's auth_code is exchanged and stored
// as an authorized push stores it (refresh token, func_info, auth_time),
// even when the request's context is already cancelled; the answer holds
// no refresh token; a used code answers the same authorizer without a
// call; an unknown code is the upstream's errcode; every exchange is
// audited.
func TestHandler_preAuthCodeAndAuthorize(t *testing.T) {
	ctx := context.Background()
	audit := &auditLog{}
	e, fake, clk := newAuthEnv(t, func(c *Config) { c.Audit = audit.add })
	if _, err := e.h.PreAuthCode(ctx, "op"); !errors.Is(err, openplatform.ErrNoComponentToken) {
		t.Fatalf("pre_auth_code without a component token: %v", err)
	}
	if _, err := e.h.Authorize(ctx, "op", "somecode", clk.Now()); !errors.Is(err, openplatform.ErrNoComponentToken) {
		t.Fatalf("authorize without a component token: %v", err)
	}
	if a := audit.last(); a.Action != "auth_code" || a.Outcome != "no_component_token" || a.App != "op" {
		t.Fatalf("audit %+v", a)
	}
	if n := fake.AuthorizerStats(testAppID); n.PreAuthCodes != 0 || n.QueryAuth != 0 {
		t.Fatalf("upstream called without a component token: %+v", n)
	}
	writeComponentToken(t, e, fake)
	p1, err1 := e.h.PreAuthCode(ctx, "op")
	p2, err2 := e.h.PreAuthCode(ctx, "op")
	if err1 != nil || err2 != nil || p1.Value == p2.Value || fake.AuthorizerStats(testAppID).PreAuthCodes != 2 {
		t.Fatalf("pre_auth_codes %v %v, %v %v, fake %+v", p1, p2, err1, err2, fake.AuthorizerStats(testAppID))
	}
	code, err := fake.AuthorizeWithPreAuthCode(testAppID, p1.Value, "wxpage1")
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	authTime := time.Unix(1_700_000_123, 0)
	a, err := e.h.Authorize(cancelled, "op", code, authTime)
	if err != nil || a.AppID != "wxpage1" || a.RefreshToken != "" {
		t.Fatalf("authorize: %v, %v (want wxpage1 without its refresh token)", a, err)
	}
	stored, err := e.st.Authorizer(ctx, "op", "wxpage1")
	if err != nil || stored.RefreshToken != fake.AuthorizerRefreshToken(testAppID, "wxpage1") || len(stored.FuncInfo) == 0 || !stored.AuthTime.Equal(authTime) {
		t.Fatalf("stored %v (auth_time %s), %v", stored, stored.AuthTime, err)
	}
	if a := audit.last(); a.Action != "auth_code" || a.Outcome != "ok" || a.App != "op/wxpage1" {
		t.Fatalf("audit %+v", a)
	}
	queries := fake.AuthorizerStats(testAppID).QueryAuth
	if a, err := e.h.Authorize(ctx, "op", code, authTime); err != nil || a.AppID != "wxpage1" || a.RefreshToken != "" ||
		fake.AuthorizerStats(testAppID).QueryAuth != queries {
		t.Fatalf("used auth_code: %v, %v (want the stored authorizer, no upstream call)", a, err)
	}
	_, err = e.h.Authorize(ctx, "op", "queryauthcode@@@neverissued", authTime)
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.Code != wechattest.CodeAuthCodeInvalid {
		t.Fatalf("unknown auth_code: %v, want errcode %d", err, wechattest.CodeAuthCodeInvalid)
	}
	if a := audit.last(); a.Outcome != "failed" || a.Errcode != wechattest.CodeAuthCodeInvalid {
		t.Fatalf("audit %+v", a)
	}
	if _, err := e.h.PreAuthCode(ctx, "nope"); !errors.Is(err, ErrNotKept) {
		t.Fatalf("unknown component: %v", err)
	}
	if _, err := e.h.Authorize(ctx, "nope", code, authTime); !errors.Is(err, ErrNotKept) {
		t.Fatalf("unknown component: %v", err)
	}
}

// newAuthEnv is newEnvWith whose component "op" exchanges codes with a
// fake upstream (registered there, its pushes going to the handler), with
// edit applied to the Config after that.
func newAuthEnv(t *testing.T, edit func(*Config)) (*env, *wechattest.Server, *testclock.FakeClock) {
	t.Helper()
	clk := testclock.NewFakeClock(time.Unix(1_700_000_000, 0))
	fake := wechattest.NewServer(wechattest.Config{Clock: clk})
	t.Cleanup(fake.Close)
	comp, err := openplatform.New(openplatform.Config{
		ComponentAppID: testAppID, Secret: "s", BaseURL: fake.URL, MinExpiresIn: time.Second,
		VerifyTicket: func(context.Context) (platform.StoredVerifyTicket, error) {
			return platform.StoredVerifyTicket{}, store.ErrNotFound
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, func(c *Config) {
		c.Components[0].Auth = comp
		edit(c)
	})
	err = fake.AddComponent(wechattest.Component{AppID: testAppID, Secret: "s", Token: testToken, EncodingAESKey: testKey,
		CallbackURLs: []string{e.srv.URL + "/callback/components/op"}})
	if err != nil {
		t.Fatal(err)
	}
	return e, fake, clk
}
