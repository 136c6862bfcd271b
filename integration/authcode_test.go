package integration

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store/platform"
)

// TestAuthCode_pushAndRedirect: WeChat delivers one authorization twice,
// the authorized push and the redirect's auth_code, on real replicas:
//   - the push lands on one replica, the redirect's POST
//     .../authorizations on another: one api_query_auth, both answered
//     (the push "success", the redirect 200 with the authorizer);
//   - one auth_code posted to all three replicas at the same moment: one
//     api_query_auth, all three answered 200 with the authorizer;
//   - no code is in Redis (only its SHA-256).
func TestAuthCode_pushAndRedirect(t *testing.T) {
	e, pc := newCountedCompEnv(t)
	ctx := context.Background()
	base := "/v1/components/" + compID + "/authorizations"

	q0 := pc.count("api_query_auth")
	push, err := e.srv.Authorize(ctx, compAppID, "wxtwice01")
	if err != nil || push.Body != "success" {
		t.Fatalf("push: %+v, %v", push, err)
	}
	other := e.procs[0]
	for _, p := range e.procs {
		if !strings.Contains(push.URL, p.Addr) {
			other = p
		}
	}
	if strings.Contains(push.URL, other.Addr) {
		t.Fatal("no replica other than the pushed one")
	}
	code, m, raw := post(t, other, base, `{"auth_code":"`+push.AuthorizationCode+`"}`)
	if code != 200 || m["appid"] != "wxtwice01" || pc.count("api_query_auth") != q0+1 {
		t.Fatalf("redirect after the push, another replica: %d %s, %d api_query_auth", code, raw, pc.count("api_query_auth")-q0)
	}
	if a, err := platform.New(e.st).Authorizer(ctx, compID, "wxtwice01"); err != nil || a.RefreshToken != e.srv.AuthorizerRefreshToken(compAppID, "wxtwice01") {
		t.Fatalf("stored %v, %v", a, err)
	}

	// One code on every replica at once.
	q1 := pc.count("api_query_auth")
	_, m, raw = post(t, e.procs[0], "/v1/components/"+compID+"/preauthcode", "")
	pre, _ := m["pre_auth_code"].(string)
	authCode, err := e.srv.AuthorizeWithPreAuthCode(compAppID, pre, "wxtwice02")
	if err != nil {
		t.Fatalf("authorization page: %v (%s)", err, raw)
	}
	var wg sync.WaitGroup
	for _, p := range e.procs {
		wg.Go(func() { concurrentRedirect(t, p, base, authCode) })
	}
	wg.Wait()
	if n := pc.count("api_query_auth") - q1; n != 1 {
		t.Fatalf("%d api_query_auth calls for one code on three replicas, want 1", n)
	}
	e.checkNotInRedis(t, []string{push.AuthorizationCode, authCode})
}

// newCountedCompEnv is newCompEnvWith (authLifetime tokens) whose
// components call the fake through a pathCounter, once the component
// token is valid.
func newCountedCompEnv(t *testing.T) (*compEnv, *pathCounter) {
	t.Helper()
	pc := newPathCounter(t)
	e := newCompEnvWith(t, compPushEvery, authLifetime, map[string]any{"base_url": pc.URL})
	u, _ := url.Parse(e.srv.URL)
	pc.target.Store(u)
	wait.For(t, 20*time.Second, "the component token", func() bool { return e.record().Valid() })
	return e, pc
}

// concurrentRedirect posts code to p and checks it is answered with
// wxtwice02 (t.Error: it runs in a goroutine).
func concurrentRedirect(t *testing.T, p *harness.Process, path, code string) {
	status, m, raw := post(t, p, path, `{"auth_code":"`+code+`"}`)
	if status != 200 || m["appid"] != "wxtwice02" {
		t.Errorf("%s: %d %s", p.ID, status, raw)
	}
}
