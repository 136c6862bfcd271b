package openplatform

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tokend/tokend/refresher/upstream"
)

// componentToken fetches a component token from the fake.
func (e *env) componentToken(t *testing.T) string {
	t.Helper()
	e.push(t)
	tok, err := e.p.Fetch(context.Background(), upstream.FetchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

// TestAuthorizer_queryRefreshList: an authorization code gives the first
// token and refresh token; api_authorizer_token refreshes with it; a
// re-authorization rotates it (the old one: 61023, NeedsReauthorization,
// ClassInput); the list pages through every authorizer; no error quotes a
// secret.
func TestAuthorizer_queryRefreshList(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ct := e.componentToken(t)
	p, err := e.fake.Authorize(ctx, appID, "wxauth1")
	if err != nil || p.AuthorizationCode == "" {
		t.Fatalf("authorize: %+v, %v", p, err)
	}
	g, err := e.p.QueryAuth(ctx, ct, p.AuthorizationCode)
	if err != nil || g.AppID != "wxauth1" || g.RefreshToken != e.fake.AuthorizerRefreshToken(appID, "wxauth1") || len(g.FuncInfo) == 0 {
		t.Fatalf("query_auth: %v, %v", g, err)
	}
	if e.fake.Check(g.Token.Value) != 0 {
		t.Fatal("query_auth token not valid upstream")
	}
	if _, err := e.p.QueryAuth(ctx, ct, p.AuthorizationCode); err == nil {
		t.Fatal("an authorization code worked twice")
	}
	g2, err := e.p.AuthorizerToken(ctx, ct, "wxauth1", g.RefreshToken)
	if err != nil || g2.Token.Value == g.Token.Value || g2.RefreshToken != g.RefreshToken {
		t.Fatalf("authorizer_token: %v, %v", g2, err)
	}
	if _, err := e.fake.Authorize(ctx, appID, "wxauth1"); err != nil {
		t.Fatal(err)
	}
	_, err = e.p.AuthorizerToken(ctx, ct, "wxauth1", g.RefreshToken)
	if !NeedsReauthorization(err) || upstream.ClassOf(err) != upstream.ClassInput {
		t.Fatalf("old refresh token after re-authorization: %v, want 61023 ClassInput", err)
	}
	for _, s := range []string{err.Error(), g.String(), fmt.Sprintf("%#v", g2)} {
		if strings.Contains(s, g.RefreshToken) || strings.Contains(s, ct) || strings.Contains(s, g.Token.Value) {
			t.Errorf("secret shown: %s", s)
		}
	}
	if _, err := e.fake.AddAuthorizers(appID, "wxbulk", 1200); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for off := 0; ; off += MaxListPage {
		total, list, dropped, err := e.p.AuthorizerList(ctx, ct, off, MaxListPage)
		if err != nil || dropped != 0 || total != 1201 {
			t.Fatalf("list at %d: total %d dropped %d, %v", off, total, dropped, err)
		}
		for _, a := range list {
			seen[a.AppID] = a.RefreshToken != ""
		}
		if off+MaxListPage >= total {
			break
		}
	}
	if len(seen) != 1201 || !seen["wxauth1"] {
		t.Fatalf("list saw %d authorizers, want 1201", len(seen))
	}
	if _, _, _, err := e.p.AuthorizerList(ctx, ct, 0, MaxListPage+1); err == nil {
		t.Error("a page of 501 was asked for")
	}
	if _, err := e.p.AuthorizerToken(ctx, "bogus-component-token", "wxauth1", "x"); err == nil {
		t.Error("a bogus component token was accepted")
	}
}
