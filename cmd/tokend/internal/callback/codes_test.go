package callback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store/platform"
)

// countingAuth counts api_query_auth calls (refused ones included); gate,
// when set, runs before each call.
type countingAuth struct {
	*openplatform.Component
	calls atomic.Int32
	gate  func()
}

func (c *countingAuth) QueryAuth(ctx context.Context, tok, code string) (openplatform.Grant, error) {
	c.calls.Add(1)
	if c.gate != nil {
		c.gate()
	}
	return c.Component.QueryAuth(ctx, tok, code)
}

// pendingStore notes the deliverers (a readerKey value in the context)
// whose reads found a code claimed.
type pendingStore struct {
	*platform.Store
	mu   sync.Mutex
	seen map[any]bool // guarded by mu
}

type readerKey struct{}

func (s *pendingStore) ExchangedCode(ctx context.Context, component, code string) (platform.ExchangedCode, error) {
	x, err := s.Store.ExchangedCode(ctx, component, code)
	if x.Pending {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.seen == nil {
			s.seen = map[any]bool{}
		}
		s.seen[ctx.Value(readerKey{})] = true
	}
	return x, err
}

// waiting is how many distinct deliverers saw a claim.
func (s *pendingStore) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type codeEnv struct {
	*env
	fake  *wechattest.Server
	auth  *countingAuth
	st    *pendingStore
	logs  *syncBuffer
	audit *auditLog
}

// newCodeEnv is newAuthEnv with a valid component token, counted calls,
// captured logs and audit, and a 10 s timeout (a busy machine).
func newCodeEnv(t *testing.T) *codeEnv {
	t.Helper()
	ce := &codeEnv{logs: &syncBuffer{}, audit: &auditLog{}}
	e, fake, _ := newAuthEnv(t, func(c *Config) {
		ce.auth = &countingAuth{Component: c.Components[0].Auth.(*openplatform.Component)}
		ce.st = &pendingStore{Store: c.Store.(*platform.Store)}
		c.Components[0].Auth, c.Store = ce.auth, ce.st
		c.Logger = slog.New(slog.NewTextHandler(ce.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Audit, c.Timeout = ce.audit.add, 10*time.Second
	})
	ce.env, ce.fake = e, fake
	writeComponentToken(t, e, fake)
	return ce
}

// redirectCode runs the authorization page for authorizer: the auth_code
// of the redirect, with no push.
func (ce *codeEnv) redirectCode(t *testing.T, authorizer string) string {
	t.Helper()
	pre, err := ce.h.PreAuthCode(context.Background(), "op")
	if err != nil {
		t.Fatal(err)
	}
	code, err := ce.fake.AuthorizeWithPreAuthCode(testAppID, pre.Value, authorizer)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// push delivers WeChat's authorized event for authorizer with code.
func (ce *codeEnv) push(t *testing.T, authorizer, code string) {
	t.Helper()
	msg := fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>1700000000</CreateTime><InfoType><![CDATA[authorized]]></InfoType>"+
		"<AuthorizerAppid><![CDATA[%s]]></AuthorizerAppid><AuthorizationCode><![CDATA[%s]]></AuthorizationCode></xml>", testAppID, authorizer, code)
	if status, body := ce.post(t, ce.crypt, "/callback/components/op", msg, nil); status != http.StatusOK || body != "success" {
		t.Errorf("push: %d %q", status, body)
	}
}

// checkStored: authorizer is stored with the fake's refresh token.
func (ce *codeEnv) checkStored(t *testing.T, authorizer string) {
	t.Helper()
	a, err := ce.st.Authorizer(context.Background(), "op", authorizer)
	if err != nil || a.RefreshToken != ce.fake.AuthorizerRefreshToken(testAppID, authorizer) {
		t.Fatalf("stored %v, %v", a, err)
	}
}

// checkSecret: code is in no key, key value, log line or audit entry.
func (ce *codeEnv) checkSecret(t *testing.T, code string) {
	t.Helper()
	for _, k := range ce.mr.Keys() {
		v, _ := ce.mr.Get(k)
		if strings.Contains(k, code) || strings.Contains(v, code) {
			t.Errorf("the code is in key %q or its value", k)
		}
	}
	if strings.Contains(ce.logs.String(), code) {
		t.Error("the code is in the log")
	}
	if strings.Contains(fmt.Sprint(ce.audit.all), code) {
		t.Error("the code is in the audit trail")
	}
}

// TestExchange_pushThenRedirect: the authorized push exchanges the code;
// the redirect with the same code answers the stored authorizer with no
// upstream call. The code is remembered for 1 h under its digest only;
// after that the upstream's refusal is answered.
func TestExchange_pushThenRedirect(t *testing.T) {
	ce := newCodeEnv(t)
	ctx := context.Background()
	p, err := ce.fake.Authorize(ctx, testAppID, "wxboth1")
	if err != nil || p.Body != "success" {
		t.Fatalf("push: %+v, %v", p, err)
	}
	ce.checkStored(t, "wxboth1")
	a, err := ce.h.Authorize(ctx, "op", p.AuthorizationCode, time.Now())
	if err != nil || a.AppID != "wxboth1" || a.RefreshToken != "" {
		t.Fatalf("redirect after the push: %v, %v", a, err)
	}
	if n := ce.auth.calls.Load(); n != 1 {
		t.Fatalf("api_query_auth calls %d, want 1", n)
	}
	if e := ce.audit.last(); e.Action != "auth_code" || e.Outcome != "ok" || e.App != "op/wxboth1" {
		t.Fatalf("audit %+v", e)
	}
	key := platform.AuthCodeKey(ce.st.Keys(), "op", p.AuthorizationCode)
	if v, _ := ce.mr.Get(key); v != "wxboth1" || ce.mr.TTL(key) != time.Hour {
		t.Fatalf("remembered %q for %s, want wxboth1 for 1h", v, ce.mr.TTL(key))
	}
	ce.checkSecret(t, p.AuthorizationCode)
	ce.mr.FastForward(time.Hour)
	_, err = ce.h.Authorize(ctx, "op", p.AuthorizationCode, time.Now())
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.Code != wechattest.CodeAuthCodeInvalid || ce.auth.calls.Load() != 2 {
		t.Fatalf("after the code's life: %v, calls %d; want 61010 from a second call", err, ce.auth.calls.Load())
	}
	if strings.Contains(err.Error(), p.AuthorizationCode) {
		t.Error("the code is in the error")
	}
	ce.checkSecret(t, p.AuthorizationCode)
}

// TestExchange_redirectThenPush: the redirect exchanges the code; the
// push with the same code is applied (audited ok) with no upstream call.
func TestExchange_redirectThenPush(t *testing.T) {
	ce := newCodeEnv(t)
	code := ce.redirectCode(t, "wxboth2")
	if a, err := ce.h.Authorize(context.Background(), "op", code, time.Now()); err != nil || a.AppID != "wxboth2" {
		t.Fatalf("redirect: %v, %v", a, err)
	}
	ce.push(t, "wxboth2", code)
	if n := ce.auth.calls.Load(); n != 1 {
		t.Fatalf("api_query_auth calls %d, want 1", n)
	}
	if e := ce.audit.last(); e.Action != "authorized" || e.Outcome != "ok" || e.App != "op/wxboth2" {
		t.Fatalf("audit %+v", e)
	}
	ce.checkStored(t, "wxboth2")
	ce.checkSecret(t, code)
}

// TestExchange_concurrent: a push and several redirects with one code at
// the same moment (one handler or many: the state is in Redis). The first
// call is held until every other delivery has seen the code claimed: one
// api_query_auth, every delivery answered with the authorizer.
func TestExchange_concurrent(t *testing.T) {
	ce := newCodeEnv(t)
	code := ce.redirectCode(t, "wxboth3")
	const redirects = 5
	var once sync.Once
	ce.auth.gate = func() {
		once.Do(func() {
			for end := time.Now().Add(8 * time.Second); ce.st.waiting() < redirects && time.Now().Before(end); {
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	var wg sync.WaitGroup
	wg.Go(func() { ce.push(t, "wxboth3", code) })
	for i := range redirects {
		wg.Go(func() {
			ctx := context.WithValue(context.Background(), readerKey{}, i)
			if a, err := ce.h.Authorize(ctx, "op", code, time.Now()); err != nil || a.AppID != "wxboth3" {
				t.Errorf("redirect: %v, %v", a, err)
			}
		})
	}
	wg.Wait()
	if n, w := ce.auth.calls.Load(), ce.st.waiting(); n != 1 || w < redirects {
		t.Fatalf("api_query_auth calls %d (want 1), deliveries that saw the claim %d (want >= %d)", n, w, redirects)
	}
	for _, e := range ce.audit.all {
		if e.Outcome != "ok" {
			t.Errorf("audit %+v", e)
		}
	}
	ce.checkStored(t, "wxboth3")
	ce.checkSecret(t, code)
}

// TestExchange_failedCallReleasesClaim: a refused code answers the
// upstream's error at once and leaves no claim behind.
func TestExchange_failedCallReleasesClaim(t *testing.T) {
	ce := newCodeEnv(t)
	code := "queryauthcode@@@neverissued"
	start := time.Now()
	for i := range 2 {
		_, err := ce.h.Authorize(context.Background(), "op", code, time.Now())
		var ue *upstream.Error
		if !errors.As(err, &ue) || ue.Code != wechattest.CodeAuthCodeInvalid {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := ce.auth.calls.Load(); n != 2 || time.Since(start) > 5*time.Second {
		t.Fatalf("calls %d in %s: want 2, without waiting on a claim", n, time.Since(start))
	}
	if ce.mr.Exists(platform.AuthCodeKey(ce.st.Keys(), "op", code)) {
		t.Fatal("a refused code left its key")
	}
}

// TestExchange_garbageKey: whatever else the code's key holds (a wrong
// type, not an appid, an appid not stored, an appid whose entry is
// garbage) costs nothing: the code is exchanged, the key replaced.
func TestExchange_garbageKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		put  func(ce *codeEnv, key string)
	}{
		{"wrong type", func(ce *codeEnv, key string) { ce.mr.HSet(key, "f", "v") }},
		{"not an appid", func(ce *codeEnv, key string) { ce.mr.Set(key, "not an appid!") }},
		{"appid not stored", func(ce *codeEnv, key string) { ce.mr.Set(key, "wxnotstored") }},
		{"garbage entry", func(ce *codeEnv, key string) {
			ce.mr.Set(key, "wxgarbage")
			ce.mr.HSet(platform.AuthorizersKey(ce.st.Keys(), "op"), "wxgarbage", "{not json")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ce := newCodeEnv(t)
			code := ce.redirectCode(t, "wxboth4")
			key := platform.AuthCodeKey(ce.st.Keys(), "op", code)
			tc.put(ce, key)
			if a, err := ce.h.Authorize(context.Background(), "op", code, time.Now()); err != nil || a.AppID != "wxboth4" {
				t.Fatalf("authorize: %v, %v", a, err)
			}
			if v, _ := ce.mr.Get(key); v != "wxboth4" || ce.auth.calls.Load() != 1 {
				t.Fatalf("key %q, calls %d", v, ce.auth.calls.Load())
			}
			ce.checkStored(t, "wxboth4")
		})
	}
}

func TestDecide(t *testing.T) {
	done := platform.ExchangedCode{Done: true, Authorizer: platform.Authorizer{AppID: "wx1"}}
	pending := platform.ExchangedCode{Pending: true}
	for _, tc := range []struct {
		x          platform.ExchangedCode
		claimTried bool
		want       step
	}{
		{done, false, stepAnswer},
		{done, true, stepAnswer},
		{pending, false, stepWait},
		{pending, true, stepWait},
		{platform.ExchangedCode{}, false, stepClaim},
		{platform.ExchangedCode{}, true, stepCall},
	} {
		if got := decide(tc.x, tc.claimTried); got != tc.want {
			t.Errorf("decide(%+v, %v) = %d, want %d", tc.x, tc.claimTried, got, tc.want)
		}
	}
}
