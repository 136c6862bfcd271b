package components_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/callback"
	"github.com/tokend/tokend/cmd/tokend/internal/httpapi"
	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store/platform"
)

// fakePlatform is a Config.Callback with the page flow: it counts calls
// and answers err (nil: a code, or the authorizer "wxauth1").
type fakePlatform struct {
	mu    sync.Mutex
	calls int
	err   error
	code  string // the last auth_code asked
}

func (f *fakePlatform) Register(*http.ServeMux) {}

func (f *fakePlatform) PreAuthCode(context.Context, string) (openplatform.PreAuthCode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return openplatform.PreAuthCode{Value: "preauthcode@@@x", ExpiresIn: 1800 * time.Second}, f.err
}

func (f *fakePlatform) Authorize(_ context.Context, _, code string, _ time.Time) (platform.Authorizer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.code = code
	if f.err != nil {
		return platform.Authorizer{}, f.err
	}
	return platform.Authorizer{AppID: "wxauth1", AuthTime: time.Unix(1_700_000_000, 0)}, nil
}

func (f *fakePlatform) set(err error) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
	return f.calls
}

// TestPlatformRoutes: the page-flow routes answer the Platform's results
// in their shape, map its errors to 503 / 400 / 502 naming the errcode,
// refuse bad input with 400 before any call, and need action token on the
// component.
func TestPlatformRoutes(t *testing.T) {
	fp := &fakePlatform{}
	e := newEnv(t, []httpapi.App{{ID: "mp-main", Provider: "wechat"}, {ID: "op", Provider: httpapi.ComponentProvider, AppID: "wxcomp"}},
		func(c *httpapi.Config) { c.Callback = fp })
	if r := e.do(t, "POST", "/v1/components/op/preauthcode", "k", ""); r.code != 200 || r.body["pre_auth_code"] != "preauthcode@@@x" || r.body["expires_in"] != 1800.0 {
		t.Fatalf("preauthcode: %d %s", r.code, r.raw)
	}
	r := e.do(t, "POST", "/v1/components/op/authorizations", "k", `{"auth_code":"queryauthcode@@@abc"}`)
	if r.code != 200 || r.body["appid"] != "wxauth1" || r.body["status"] != "pending" || r.body["component"] != "op" || fp.code != "queryauthcode@@@abc" {
		t.Fatalf("authorizations: %d %s (code %q)", r.code, r.raw, fp.code)
	}
	e.writeToken(t, "op/wxauth1", "tok-auth1")
	r = e.do(t, "POST", "/v1/components/op/authorizations", "k", `{"auth_code":"queryauthcode@@@abc"}`)
	if r.code != 200 || r.body["status"] != "valid" || r.body["expires_at"] == nil || strings.Contains(r.raw, "tok-auth1") {
		t.Fatalf("authorizations with a token stored: %d %s", r.code, r.raw)
	}
	before := fp.set(nil)
	for _, c := range []struct {
		path, bearer, body string
		code               int
	}{
		{"/v1/components/op/authorizations", "k", ``, 400},
		{"/v1/components/op/authorizations", "k", `{"auth_code":""}`, 400},
		{"/v1/components/op/authorizations", "k", `{"auth_code":"a b"}`, 400},
		{"/v1/components/op/authorizations", "k", `{"auth_code":"` + strings.Repeat("a", 513) + `"}`, 400},
		{"/v1/components/op/authorizations", "k", `{"auth_code":"a","x":1}`, 400},
		{"/v1/components/op/authorizations", "k", `[1]`, 400},
		{"/v1/components/op/authorizations", "k", `{"auth_code":"` + strings.Repeat("a", 9000) + `"}`, 413},
		{"/v1/components/mp-main/authorizations", "k", `{"auth_code":"a"}`, 404},
		{"/v1/components/nope/preauthcode", "k", ``, 404},
		{"/v1/components/op/preauthcode", "", ``, 401},
		{"/v1/components/op/preauthcode", "wrong", ``, 403},
	} {
		if r := e.do(t, "POST", c.path, c.bearer, c.body); r.code != c.code || r.body["error"] == nil {
			t.Errorf("POST %s %.40q: %d %s, want %d", c.path, c.body, r.code, r.raw, c.code)
		}
	}
	if n := fp.set(nil); n != before {
		t.Fatalf("bad input reached the platform: %d calls, want %d", n, before)
	}
	if r := e.do(t, "GET", "/v1/components/op/preauthcode", "k", ""); r.code != 405 {
		t.Errorf("GET preauthcode: %d", r.code)
	}
	for _, c := range []struct {
		err     error
		code    int
		errcode float64
	}{
		{openplatform.ErrNoComponentToken, 503, 0},
		{&upstream.Error{Code: 61010, Message: "code expired"}, 400, 61010},
		{&upstream.Error{Code: 61009}, 400, 61009},
		{&upstream.Error{Code: 61004}, 502, 61004},
		{&upstream.Error{Message: "connection refused", Class: upstream.ClassRetry}, 502, 0},
		{errors.New("store: redis down"), 503, 0},
		{fmt.Errorf("exchange: %w", callback.ErrCodeBusy), 503, 0},
	} {
		fp.set(c.err)
		for _, path := range []string{"/v1/components/op/authorizations", "/v1/components/op/preauthcode"} {
			r := e.do(t, "POST", path, "k", `{"auth_code":"abc"}`)
			want := c.code
			if c.errcode == 61010 || c.errcode == 61009 {
				if strings.HasSuffix(path, "preauthcode") {
					want = 502 // not a code of the caller's
				}
			}
			if busy := errors.Is(c.err, callback.ErrCodeBusy); busy && !strings.Contains(r.raw, "retry") {
				t.Errorf("%s with %v: %s, want a retry hint", path, c.err, r.raw)
			}
			if r.code != want || r.body["error"] == nil || (c.errcode != 0 && r.body["errcode"] != c.errcode) {
				t.Errorf("%s with %v: %d %s, want %d errcode %v", path, c.err, r.code, r.raw, want, c.errcode)
			}
		}
	}
	if r := e.do(t, "POST", "/v1/components/op/preauthcode", "k", ""); r.body["error_help"] != nil && !strings.HasPrefix(r.body["error_help"].(string), "/ui/errcodes#") {
		t.Errorf("error_help %v", r.body["error_help"])
	}
}

// TestPlatformRoutes_notKept: a Callback without the page flow (or none)
// answers 404, as an unknown component.
func TestPlatformRoutes_notKept(t *testing.T) {
	e := newEnv(t, []httpapi.App{{ID: "op", Provider: httpapi.ComponentProvider, AppID: "wxcomp"}},
		func(c *httpapi.Config) { c.AuthTokens, c.Open = nil, true })
	for _, p := range []string{"/v1/components/op/preauthcode", "/v1/components/op/authorizations"} {
		if r := e.do(t, "POST", p, "", `{"auth_code":"a"}`); r.code != 404 {
			t.Errorf("%s: %d %s", p, r.code, r.raw)
		}
	}
}
