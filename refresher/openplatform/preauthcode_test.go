package openplatform

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// TestCreatePreAuthCode_newPerCall: every call mints a new code (the
// fake counts them), which opens the fake's authorization page once and
// gives an auth_code api_query_auth exchanges; a bad component token is
// the upstream's errcode; no string shows the code.
func TestCreatePreAuthCode_newPerCall(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ct := e.componentToken(t)
	a, err := e.p.CreatePreAuthCode(ctx, ct)
	if err != nil || a.Value == "" || a.ExpiresIn != wechattest.PreAuthCodeLifetime {
		t.Fatalf("first: %v, %v", a, err)
	}
	b, err := e.p.CreatePreAuthCode(ctx, ct)
	if err != nil || b.Value == a.Value {
		t.Fatalf("second: %v, %v (want a new code)", b, err)
	}
	if n := e.fake.AuthorizerStats(appID).PreAuthCodes; n != 2 {
		t.Fatalf("fake minted %d codes, want 2", n)
	}
	for _, s := range []string{a.String(), fmt.Sprintf("%#v", a), fmt.Sprint(a)} {
		if strings.Contains(s, a.Value) {
			t.Errorf("code shown: %s", s)
		}
	}
	code, err := e.fake.AuthorizeWithPreAuthCode(appID, a.Value, "wxpage1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.fake.AuthorizeWithPreAuthCode(appID, a.Value, "wxpage1"); !errors.Is(err, wechattest.ErrPreAuthCode) {
		t.Fatalf("pre_auth_code used twice: %v", err)
	}
	g, err := e.p.QueryAuth(ctx, ct, code)
	if err != nil || g.AppID != "wxpage1" || g.RefreshToken != e.fake.AuthorizerRefreshToken(appID, "wxpage1") {
		t.Fatalf("query_auth: %v, %v", g, err)
	}
	e.clk.Step(wechattest.PreAuthCodeLifetime)
	if _, err := e.fake.AuthorizeWithPreAuthCode(appID, b.Value, "wxpage2"); !errors.Is(err, wechattest.ErrPreAuthCode) {
		t.Fatalf("expired pre_auth_code: %v", err)
	}
	var ue *upstream.Error
	if _, err := e.p.CreatePreAuthCode(ctx, "not-a-token"); !errors.As(err, &ue) || ue.Code == 0 || strings.Contains(err.Error(), "not-a-token") {
		t.Fatalf("bad component token: %v, want an errcode that does not quote the token", err)
	}
	if _, err := e.p.CreatePreAuthCode(ctx, ""); upstream.ClassOf(err) != upstream.ClassInput {
		t.Fatalf("no component token: %v", err)
	}
}
