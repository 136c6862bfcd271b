package httpapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/jssdk"
)

// ticketApps: a WeChat app with two tickets, WeCom apps with and without
// an agentid, and an app without tickets.
var ticketApps = []App{
	{ID: "mp-main", Provider: "wechat", AppID: "wx1234567890abcdef", Tickets: []string{"jsapi", "wx_card"}},
	{ID: "hr", Provider: "wecom", AppID: "ww0123456789", AgentID: "1000002", Tickets: []string{"jsapi", "agent_config"}},
	{ID: "hr-noagent", Provider: "wecom", AppID: "ww0123456789", Tickets: []string{"agent_config"}},
	{ID: "plain", Provider: "wechat", AppID: "wx2"},
}

func TestAPI_ticket(t *testing.T) {
	e := newAPIEnvApps(t, nil, true, ticketApps)
	if r := e.do(t, "GET", "/v1/apps/mp-main/tickets/jsapi", "", ""); r.code != 503 || r.body["error"] != "no valid ticket" {
		t.Fatalf("before any ticket: %d %s", r.code, r.raw)
	}
	e.writeToken(t, "mp-main", "tok-A")
	e.writeToken(t, "mp-main:jsapi", "ticket-A")
	r := e.do(t, "GET", "/v1/apps/mp-main/tickets/jsapi", "", "")
	if exp, _ := r.body["expires_in"].(float64); r.code != 200 || r.body["ticket"] != "ticket-A" || len(r.body) != 2 || exp < 7100 || exp > 7140 {
		t.Fatalf("ticket: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "GET", "/v1/apps/mp-main/token", "", ""); r.body["access_token"] != "tok-A" {
		t.Fatalf("the token route serves %s", r.raw)
	}
	for path, code := range map[string]int{
		"/v1/apps/mp-main/tickets/wx_card":      503, // configured, not written
		"/v1/apps/mp-main/tickets/agent_config": 404, // not configured for the app
		"/v1/apps/mp-main/tickets/JSAPI":        404,
		"/v1/apps/plain/tickets/jsapi":          404,
		"/v1/apps/nope/tickets/jsapi":           404,
		"/v1/apps/mp-main:jsapi/token":          404, // a ticket is not an app
		"/v1/apps/mp-main/tickets/":             404,
	} {
		if r := e.do(t, "GET", path, "", ""); r.code != code || r.body["error"] == nil {
			t.Errorf("GET %s: %d %s, want %d", path, r.code, r.raw, code)
		}
	}
	if r := e.do(t, "POST", "/v1/apps/mp-main/tickets/jsapi", "", ""); r.code != 405 || r.hdr.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST ticket: %d %q", r.code, r.hdr.Get("Allow"))
	}
	e.mr.SetError("LOADING")
	if r := e.do(t, "GET", "/v1/apps/mp-main/tickets/jsapi", "", ""); r.code != 200 || r.body["ticket"] != "ticket-A" {
		t.Errorf("redis down: %d %s, want the cached ticket", r.code, r.raw)
	}
}

// TestAPI_ticketRoutes_auth: the ticket, ticket refresh and signature
// routes are guarded like the token route.
func TestAPI_ticketRoutes_auth(t *testing.T) {
	routes := []struct{ method, path, body string }{
		{"GET", "/v1/apps/mp-main/tickets/jsapi", ""},
		{"POST", "/v1/apps/mp-main/tickets/jsapi/refresh", `{"invalid_ticket":"x"}`},
		{"POST", "/v1/apps/mp-main/signature", `{"url":"https://example.com/"}`},
	}
	withTokens := newAPIEnvApps(t, []string{"good"}, false, ticketApps)
	withTokens.writeToken(t, "mp-main:jsapi", "ticket-A")
	closed := newAPIEnvApps(t, nil, false, ticketApps)
	for _, rt := range routes {
		if r := withTokens.do(t, rt.method, rt.path, "", rt.body); r.code != 401 {
			t.Errorf("%s %s without bearer: %d", rt.method, rt.path, r.code)
		}
		if r := withTokens.do(t, rt.method, rt.path, "bad", rt.body); r.code != 403 {
			t.Errorf("%s %s wrong bearer: %d", rt.method, rt.path, r.code)
		}
		if r := closed.do(t, rt.method, rt.path, "", rt.body); r.code != 403 {
			t.Errorf("%s %s with no tokens configured: %d, want 403", rt.method, rt.path, r.code)
		}
	}
	if p, _ := withTokens.store.PendingReports(context.Background()); len(p) != 0 {
		t.Fatalf("refused requests left reports: %v", p)
	}
	for _, rt := range routes {
		if r := withTokens.do(t, rt.method, rt.path, "good", rt.body); r.code != 200 {
			t.Errorf("%s %s good bearer: %d %s", rt.method, rt.path, r.code, r.raw)
		}
	}
}

func TestAPI_ticketRefresh(t *testing.T) {
	e := newAPIEnvApps(t, nil, true, ticketApps)
	e.api.refreshWait = 5 * time.Second
	e.writeToken(t, "mp-main", "tok-A")
	e.writeToken(t, "mp-main:jsapi", "ticket-A")
	const path = "/v1/apps/mp-main/tickets/jsapi/refresh"
	for name, tc := range map[string]struct {
		body string
		code int
	}{
		"token field":   {`{"invalid_token":"ticket-A"}`, 400},
		"empty":         {`{}`, 400},
		"empty ticket":  {`{"invalid_ticket":""}`, 400},
		"wrong type":    {`{"invalid_ticket":5}`, 400},
		"extra field":   {`{"invalid_ticket":"x","y":1}`, 400},
		"not an object": {`["ticket-A"]`, 400},
		"oversized":     {`{"invalid_ticket":"` + strings.Repeat("x", 10000) + `"}`, 413},
	} {
		if r := e.do(t, "POST", path, "", tc.body); r.code != tc.code || r.body["error"] == nil {
			t.Errorf("%s: %d %s, want %d", name, r.code, r.raw, tc.code)
		}
	}
	if r := e.do(t, "POST", "/v1/apps/mp-main/tickets/agent_config/refresh", "", `{"invalid_ticket":"x"}`); r.code != 404 {
		t.Errorf("kind not configured: %d", r.code)
	}
	if p, _ := e.store.PendingReports(context.Background()); len(p) != 0 {
		t.Fatalf("bad requests left reports: %v", p)
	}
	// A stale report answers the current ticket, reporting nothing.
	r := e.do(t, "POST", path, "", `{"invalid_ticket":"ticket-old"}`)
	if r.code != 200 || r.body["ticket"] != "ticket-A" || r.body["refreshed"] != false || r.body["access_token"] != nil {
		t.Fatalf("stale report: %d %s", r.code, r.raw)
	}
	// A report of the current ticket is the ticket's own (not the
	// parent's), and waits for the leader's new ticket.
	// The writer is joined before any assertion, so it never outlives
	// the test (and its store).
	written := make(chan struct{})
	go func() {
		defer close(written)
		if _, ok := wait.Poll(3*time.Second, func() bool {
			p, _ := e.store.PendingReport(context.Background(), "mp-main:jsapi")
			return p == "ticket-A"
		}); ok {
			e.writeToken(t, "mp-main:jsapi", "ticket-B")
		}
	}()
	r = e.do(t, "POST", path, "", `{"invalid_ticket":"ticket-A"}`)
	<-written
	if r.code != 200 || r.body["ticket"] != "ticket-B" || r.body["refreshed"] != true {
		t.Fatalf("current report: %d %s", r.code, r.raw)
	}
	if p, _ := e.store.PendingReport(context.Background(), "mp-main"); p != "" {
		t.Fatalf("the parent token was reported: %q", p)
	}
	// Inside the cooldown: 503 at once with Retry-After, the report kept.
	e.api.cooldown = time.Minute
	r = e.do(t, "POST", path, "", `{"invalid_ticket":"ticket-B"}`)
	if msg, _ := r.body["error"].(string); r.code != 503 || r.hdr.Get("Retry-After") == "" || !strings.Contains(msg, "no new ticket yet: the current ticket was fetched") {
		t.Fatalf("in cooldown: %d %s", r.code, r.raw)
	}
}

func TestAPI_signature(t *testing.T) {
	e := newAPIEnvApps(t, nil, true, ticketApps)
	e.writeToken(t, "mp-main:jsapi", "ticket-MP-SECRETVALUE")
	e.writeToken(t, "hr:agent_config", "ticket-AGENT-SECRETVALUE")
	e.writeToken(t, "hr-noagent:agent_config", "ticket-NOAGENT")
	const page = "https://shop.example.com/pay?order=42&x=%E4%BD%A0"

	sign := func(app, body string) (reply, signatureAnswer) {
		t.Helper()
		r := e.do(t, "POST", "/v1/apps/"+app+"/signature", "", body)
		var ans signatureAnswer
		_ = json.Unmarshal([]byte(r.raw), &ans)
		if strings.Contains(r.raw, "SECRETVALUE") {
			t.Fatalf("the answer shows the ticket: %s", r.raw)
		}
		return r, ans
	}
	before := time.Now().Unix()
	r, ans := sign("mp-main", `{"url":"`+page+`#section"}`)
	if r.code != 200 || ans.AppID != "wx1234567890abcdef" || ans.URL != page || len(ans.NonceStr) != 16 ||
		ans.Timestamp < before || ans.Timestamp > time.Now().Unix() || r.body["agentid"] != nil ||
		ans.Signature != jssdk.Sign("ticket-MP-SECRETVALUE", ans.NonceStr, ans.Timestamp, page) {
		t.Fatalf("jsapi signature: %d %s", r.code, r.raw)
	}
	for _, k := range []string{"appid", "timestamp", "nonce_str", "signature", "url"} {
		if _, ok := r.body[k]; !ok {
			t.Errorf("answer lacks %q: %s", k, r.raw)
		}
	}
	r, ans = sign("hr", `{"url":"`+page+`","kind":"agent_config"}`)
	if r.code != 200 || ans.AppID != "ww0123456789" || ans.AgentID != "1000002" ||
		ans.Signature != jssdk.Sign("ticket-AGENT-SECRETVALUE", ans.NonceStr, ans.Timestamp, page) {
		t.Fatalf("agent_config signature: %d %s", r.code, r.raw)
	}
	for name, tc := range map[string]struct {
		app, body string
		code      int
		msg       string
	}{
		"relative url":          {"mp-main", `{"url":"/pay"}`, 400, "url: "},
		"ftp url":               {"mp-main", `{"url":"ftp://example.com/"}`, 400, "url: "},
		"no url":                {"mp-main", `{"kind":"jsapi"}`, 400, "url: required"},
		"url over 2 KiB":        {"mp-main", `{"url":"https://example.com/?` + strings.Repeat("a", 2030) + `"}`, 400, "longer than 2048"},
		"body over 8 KiB":       {"mp-main", `{"url":"https://example.com/?` + strings.Repeat("a", 9000) + `"}`, 413, "too large"},
		"wx_card":               {"mp-main", `{"url":"https://example.com/","kind":"wx_card"}`, 400, "want jsapi or agent_config"},
		"kind not configured":   {"mp-main", `{"url":"https://example.com/","kind":"agent_config"}`, 400, "keeps no agent_config ticket"},
		"no tickets":            {"plain", `{"url":"https://example.com/"}`, 400, "keeps no jsapi ticket"},
		"agent_config, no id":   {"hr-noagent", `{"url":"https://example.com/","kind":"agent_config"}`, 400, "need the app's agentid"},
		"unknown field":         {"mp-main", `{"url":"https://example.com/","ticket":"x"}`, 400, "body must be JSON"},
		"not json":              {"mp-main", `url=https://example.com/`, 400, "body must be JSON"},
		"unknown app":           {"nope", `{"url":"https://example.com/"}`, 404, "unknown app"},
		"ticket not yet stored": {"hr", `{"url":"https://example.com/"}`, 503, "no valid ticket"},
	} {
		r, _ := sign(tc.app, tc.body)
		if msg, _ := r.body["error"].(string); r.code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %s, want %d with %q", name, r.code, r.raw, tc.code, tc.msg)
		}
	}
	if r := e.do(t, "GET", "/v1/apps/mp-main/signature", "", ""); r.code != 405 || r.hdr.Get("Allow") != "POST" {
		t.Errorf("GET signature: %d %q", r.code, r.hdr.Get("Allow"))
	}
}

// TestAPI_status_tickets: status lists each ticket credential after its
// app, with kind, parent and expiry, never a value.
func TestAPI_status_tickets(t *testing.T) {
	e := newAPIEnvApps(t, nil, false, ticketApps[:2])
	e.writeToken(t, "mp-main", "tok-SECRETVALUE")
	e.writeToken(t, "mp-main:jsapi", "ticket-SECRETVALUE")
	until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := e.store.SetStatus(context.Background(), "hr:agent_config", store.Status{
		Kind: "agent_config", Parent: "hr", Waiting: "budget", WaitingFor: "wecom-corp.ww1 400/1h0m0s", WaitUntil: until,
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetStatus(context.Background(), "mp-main", store.Status{Kind: "wechat", Probe: "rejected"}); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, "GET", "/v1/status", "", "")
	if r.code != 200 || strings.Contains(r.raw, "SECRETVALUE") {
		t.Fatalf("status: %d %s", r.code, r.raw)
	}
	var st statusAnswer
	if err := json.Unmarshal([]byte(r.raw), &st); err != nil {
		t.Fatal(err)
	}
	want := []struct{ id, kind, parent, provider string }{
		{"mp-main", "token", "", "wechat"}, {"mp-main:jsapi", "jsapi", "mp-main", "wechat"}, {"mp-main:wx_card", "wx_card", "mp-main", "wechat"},
		{"hr", "token", "", "wecom"}, {"hr:jsapi", "jsapi", "hr", "wecom"}, {"hr:agent_config", "agent_config", "hr", "wecom"},
	}
	if len(st.Apps) != len(want) {
		t.Fatalf("status lists %d credentials, want %d: %s", len(st.Apps), len(want), r.raw)
	}
	for i, w := range want {
		if a := st.Apps[i]; a.ID != w.id || a.Kind != w.kind || a.Parent != w.parent || a.Provider != w.provider {
			t.Errorf("entry %d: %+v, want %+v", i, a, w)
		}
	}
	if a := st.Apps[1]; !a.Valid || a.ExpiresAt == nil || a.Fingerprint == "" || a.Version != 1 {
		t.Errorf("jsapi entry %+v", a)
	}
	if a := st.Apps[2]; a.Valid || a.ExpiresAt != nil {
		t.Errorf("unwritten wx_card entry %+v", a)
	}
	if a := st.Apps[5]; a.Waiting != "budget" || a.WaitingFor != "wecom-corp.ww1 400/1h0m0s" || a.WaitUntil == nil || !a.WaitUntil.Equal(until) {
		t.Errorf("budget-waiting agent_config entry %+v", a)
	}
	if a := st.Apps[0]; a.Probe != "rejected" || a.Waiting != "" {
		t.Errorf("probed token entry %+v", a)
	}
}
