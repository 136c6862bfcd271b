package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store/platform"
)

// pathCounter is a reverse proxy in front of the fake upstream that
// counts requests by path: the components' base_url, so the test sees
// every Open Platform call tokend makes, failed ones included.
type pathCounter struct {
	URL    string
	target atomic.Pointer[url.URL]
	mu     sync.Mutex
	counts map[string]int
}

func newPathCounter(t *testing.T) *pathCounter {
	t.Helper()
	c := &pathCounter{counts: map[string]int{}}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		if u := c.target.Load(); u != nil {
			pr.SetURL(u)
		}
	}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.counts[r.URL.Path]++
		c.mu.Unlock()
		if c.target.Load() == nil {
			http.Error(w, "not yet", http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

func (c *pathCounter) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts["/cgi-bin/component/"+op]
}

// post sends an authorised POST (the harness's bearer token, unless
// bearer is given) to a replica: status and body.
func post(t *testing.T, p *harness.Process, path, body string, bearer ...string) (int, map[string]any, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.Addr+path, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	tok := "it-token"
	if len(bearer) > 0 {
		tok = bearer[0]
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, string(raw)
}

// TestPlatformRoutes_pageFlow: on real replicas (three tokend processes,
// redis-server, the fake upstream behind a counting proxy):
//   - every POST /v1/components/{id}/preauthcode, on any replica, is one
//     api_create_preauthcode call and a new code, kept nowhere in Redis;
//   - the auth_code the fake's authorization page gives for one is
//     exchanged by POST .../authorizations on a follower: the authorizer
//     is stored (the fake's refresh token), its token fetched by the
//     leader and then refreshed;
//   - the WeChat-shaped api_component_token and api_authorizer_token
//     answer tokens the upstream accepts and the stored refresh token,
//     with no upstream call of theirs;
//   - bad input gets 4xx JSON (or WeChat's errcode) and no upstream call;
//     the exchanged auth_code again answers its authorizer with no call;
//     an unknown one is the upstream's 61010, answered 400.
func TestPlatformRoutes_pageFlow(t *testing.T) {
	e, pc := newCountedCompEnv(t)
	leader, _ := e.cluster.WaitLeader(5*time.Second, nil)
	var follower *harness.Process
	for _, p := range e.procs {
		if p.ID != leader.ID {
			follower = p
		}
	}
	base := "/v1/components/" + compID

	// pre_auth_codes: one upstream call each, any replica.
	var codes []string
	for i, p := range append([]*harness.Process{leader}, e.procs...) {
		before := pc.count("api_create_preauthcode")
		code, m, raw := post(t, p, base+"/preauthcode", "")
		pre, _ := m["pre_auth_code"].(string)
		if code != 200 || pre == "" || m["expires_in"] != 1800.0 || pc.count("api_create_preauthcode") != before+1 {
			t.Fatalf("preauthcode %d on %s: %d %s (upstream calls %d -> %d)", i, p.ID, code, raw, before, pc.count("api_create_preauthcode"))
		}
		for _, c := range codes {
			if c == pre {
				t.Fatalf("pre_auth_code %d repeats an earlier one", i)
			}
		}
		codes = append(codes, pre)
	}
	if n := e.srv.AuthorizerStats(compAppID).PreAuthCodes; n != len(codes) {
		t.Fatalf("the fake minted %d codes, tokend answered %d", n, len(codes))
	}
	e.checkNotInRedis(t, codes)

	// The authorization redirect's auth_code, exchanged on a follower.
	authCode, err := e.srv.AuthorizeWithPreAuthCode(compAppID, codes[0], "wxroute01")
	if err != nil {
		t.Fatal(err)
	}
	code, m, raw := post(t, follower, base+"/authorizations", `{"auth_code":"`+authCode+`"}`)
	if code != 200 || m["appid"] != "wxroute01" || (m["status"] != "pending" && m["status"] != "valid") || strings.Contains(raw, "refresh") {
		t.Fatalf("authorizations: %d %s", code, raw)
	}
	ctx := context.Background()
	if a, err := platform.New(e.st).Authorizer(ctx, compID, "wxroute01"); err != nil || a.RefreshToken != e.srv.AuthorizerRefreshToken(compAppID, "wxroute01") {
		t.Fatalf("stored authorizer %v, %v", a, err)
	}
	cid := platform.AuthorizerID(compID, "wxroute01")
	var v1 int64
	wait.For(t, 15*time.Second, "the authorizer's first token", func() bool {
		rec, _ := e.st.Record(ctx, cid)
		v1 = rec.Version
		return rec.Valid()
	})
	wait.For(t, 3*authLifetime, "a refresh of the authorizer's token", func() bool {
		rec, _ := e.st.Record(ctx, cid)
		return rec.Valid() && rec.Version > v1
	})

	e.checkCompatRoutes(t, pc, follower)
	e.checkBadInput(t, pc, follower, authCode)
}

// checkNotInRedis: no key name or value in Redis holds one of codes.
func (e *compEnv) checkNotInRedis(t *testing.T, codes []string) {
	t.Helper()
	ctx := context.Background()
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		var vals []string
		switch typ, _ := e.rdb.Type(ctx, k).Result(); typ {
		case "string":
			v, _ := e.rdb.Get(ctx, k).Result()
			vals = append(vals, v)
		case "hash":
			h, _ := e.rdb.HGetAll(ctx, k).Result()
			for f, v := range h {
				vals = append(vals, f, v)
			}
		case "stream":
			msgs, _ := e.rdb.XRange(ctx, k, "-", "+").Result()
			for _, m := range msgs {
				for _, v := range m.Values {
					s, _ := v.(string)
					vals = append(vals, s)
				}
			}
		}
		for _, c := range codes {
			for _, v := range append(vals, k) {
				if strings.Contains(v, c) {
					t.Fatalf("a pre_auth_code is in Redis, key %s", k)
				}
			}
		}
	}
}

// checkCompatRoutes: the WeChat-shaped component routes answer tokens
// the upstream accepts, from the store: 20 calls of each cost no more
// upstream calls than the leader's own cycle (at most 2 in the window).
func (e *compEnv) checkCompatRoutes(t *testing.T, pc *pathCounter, p *harness.Process) {
	t.Helper()
	ct0, at0 := pc.count("api_component_token"), pc.count("api_authorizer_token")
	for range 20 {
		code, m, raw := post(t, p, "/cgi-bin/component/api_component_token",
			`{"component_appid":"`+compAppID+`","component_appsecret":"`+compSecret+`","component_verify_ticket":"ignored"}`)
		tok, _ := m["component_access_token"].(string)
		if code != 200 || tok == "" || m["expires_in"] == nil || e.srv.Check(tok) != 0 {
			t.Fatalf("api_component_token: %d %s (upstream says %d)", code, raw, e.srv.Check(tok))
		}
		code, m, raw = post(t, p, "/cgi-bin/component/api_authorizer_token?component_access_token="+url.QueryEscape(tok),
			`{"component_appid":"`+compAppID+`","authorizer_appid":"wxroute01","authorizer_refresh_token":"stale"}`)
		at, _ := m["authorizer_access_token"].(string)
		if code != 200 || at == "" || e.srv.Check(at) != 0 || m["authorizer_refresh_token"] != e.srv.AuthorizerRefreshToken(compAppID, "wxroute01") {
			t.Fatalf("api_authorizer_token: %d %.300s (upstream says %d)", code, raw, e.srv.Check(at))
		}
	}
	if dc, da := pc.count("api_component_token")-ct0, pc.count("api_authorizer_token")-at0; dc > 2 || da > 2 {
		t.Errorf("40 compat calls came with %d api_component_token and %d api_authorizer_token upstream calls", dc, da)
	}
}

// checkBadInput: refusals with no upstream call; the auth_code already
// exchanged answers its authorizer with no call; an unknown one is one
// call, refused 61010, answered 400.
func (e *compEnv) checkBadInput(t *testing.T, pc *pathCounter, p *harness.Process, used string) {
	t.Helper()
	q0, c0 := pc.count("api_query_auth"), pc.count("api_create_preauthcode")
	base := "/v1/components/" + compID
	for _, c := range []struct {
		path, body string
		code       int
		bearer     []string
	}{
		{base + "/authorizations", ``, 400, nil},
		{base + "/authorizations", `{"auth_code":""}`, 400, nil},
		{base + "/authorizations", `{"auth_code":"a b"}`, 400, nil},
		{base + "/authorizations", `not json`, 400, nil},
		{base + "/authorizations", `{"auth_code":"x"}`, 401, []string{""}},
		{base + "/authorizations", `{"auth_code":"x"}`, 403, []string{"wrong"}},
		{"/v1/components/nope/authorizations", `{"auth_code":"x"}`, 404, nil},
		{"/v1/components/" + appID + "/preauthcode", ``, 404, nil},
		{base + "/preauthcode", ``, 403, []string{"wrong"}},
	} {
		code, m, raw := post(t, p, c.path, c.body, c.bearer...)
		if code != c.code || m["error"] == nil {
			t.Errorf("POST %s %q: %d %s, want %d", c.path, c.body, code, raw, c.code)
		}
	}
	for _, c := range []struct{ path, body string }{
		{"/cgi-bin/component/api_component_token", `{"component_appid":"` + compAppID + `","component_appsecret":"wrong"}`},
		{"/cgi-bin/component/api_authorizer_token?component_access_token=guess", `{"component_appid":"` + compAppID + `","authorizer_appid":"wxroute01"}`},
	} {
		if code, m, raw := post(t, p, c.path, c.body); code != 200 || m["errcode"] == nil || m["errcode"] == 0.0 {
			t.Errorf("POST %s: %d %s, want an errcode", c.path, code, raw)
		}
	}
	if dq, dc := pc.count("api_query_auth")-q0, pc.count("api_create_preauthcode")-c0; dq != 0 || dc != 0 {
		t.Fatalf("bad input made %d api_query_auth and %d api_create_preauthcode calls", dq, dc)
	}
	code, m, raw := post(t, p, base+"/authorizations", `{"auth_code":"`+used+`"}`)
	if code != 200 || m["appid"] != "wxroute01" || pc.count("api_query_auth") != q0 {
		t.Fatalf("an exchanged auth_code again: %d %s, %d calls (want its authorizer, no call)", code, raw, pc.count("api_query_auth")-q0)
	}
	code, m, raw = post(t, p, base+"/authorizations", `{"auth_code":"queryauthcode@@@neverissued"}`)
	if code != 400 || m["errcode"] != 61010.0 || pc.count("api_query_auth") != q0+1 {
		t.Fatalf("an unknown auth_code: %d %s, %d calls", code, raw, pc.count("api_query_auth")-q0)
	}
}
