package callback

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/platform"
)

type auditLog struct {
	mu  sync.Mutex
	all []fleet.AuditEntry
}

func (a *auditLog) add(e fleet.AuditEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.all = append(a.all, e)
}

func (a *auditLog) last() fleet.AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.all) == 0 {
		return fleet.AuditEntry{}
	}
	return a.all[len(a.all)-1]
}

// TestCallback_authorizationEvents: with the fake upstream pushing real
// events, authorized stores the authorizer with its refresh token (via
// api_query_auth and the component token in Redis), updateauthorized
// stores the rotated one, unauthorized removes it and its keys; with no
// component token the push is still answered success and audited.
func TestCallback_authorizationEvents(t *testing.T) {
	ctx := context.Background()
	audit := &auditLog{}
	e, fake, _ := newAuthEnv(t, func(c *Config) { c.Components[0].Kinds, c.Audit = []string{"jsapi"}, audit.add })
	authorize := func(appid string) {
		t.Helper()
		if p, err := fake.Authorize(ctx, testAppID, appid); err != nil || p.Body != "success" {
			t.Fatalf("authorize push: %+v, %v", p, err)
		}
	}
	// No component token yet: answered, nothing stored, audited.
	authorize("wxauth1")
	if _, err := e.st.Authorizer(ctx, "op", "wxauth1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stored without a component token: %v", err)
	}
	if a := audit.last(); a.Outcome != "no_component_token" || a.App != "op/wxauth1" {
		t.Fatalf("audit %+v", a)
	}
	writeComponentToken(t, e, fake)
	authorize("wxauth1") // updateauthorized now (the fake knows it)
	a, err := e.st.Authorizer(ctx, "op", "wxauth1")
	if err != nil || a.RefreshToken != fake.AuthorizerRefreshToken(testAppID, "wxauth1") || len(a.FuncInfo) == 0 {
		t.Fatalf("stored %v, %v", a, err)
	}
	old := a.RefreshToken
	authorize("wxauth1")
	if a, _ := e.st.Authorizer(ctx, "op", "wxauth1"); a.RefreshToken == old || a.RefreshToken != fake.AuthorizerRefreshToken(testAppID, "wxauth1") {
		t.Fatal("re-authorization did not store the rotated refresh token")
	}
	if p, err := fake.Unauthorize(ctx, testAppID, "wxauth1"); err != nil || p.Body != "success" {
		t.Fatalf("unauthorize: %+v, %v", p, err)
	}
	if _, err := e.st.Authorizer(ctx, "op", "wxauth1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after unauthorized: %v", err)
	}
	if a := audit.last(); a.Action != "unauthorized" || a.Outcome != "ok" {
		t.Fatalf("audit %+v", a)
	}
}

// writeComponentToken fetches a component token from fake (a pushed
// ticket) and writes it as the leader would.
func writeComponentToken(t *testing.T, e *env, fake *wechattest.Server) {
	t.Helper()
	ctx := context.Background()
	if p, err := fake.PushTicket(ctx, testAppID); err != nil || p.Body != "success" {
		t.Fatalf("ticket push: %+v, %v", p, err)
	}
	comp, err := openplatform.New(openplatform.Config{ComponentAppID: testAppID, Secret: "s", BaseURL: fake.URL, MinExpiresIn: time.Second,
		VerifyTicket: func(ctx context.Context) (platform.StoredVerifyTicket, error) {
			return e.st.ReadVerifyTicket(ctx, "op")
		}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := comp.Fetch(ctx, upstream.FetchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	e.mr.Set(e.st.Keys().Lease(), "lease")
	tk, err := e.st.TakeTicket(ctx, "op", "lease", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.WriteToken(ctx, store.Write{App: "op", Ticket: tk, Token: tok.Value, ExpiresIn: tok.ExpiresIn}); err != nil {
		t.Fatal(err)
	}
}
