package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/clients"
	"github.com/tokend/tokend/store/fleet"
)

const (
	keyBilling = "billing-key-000000001"
	keyBillNew = "billing-key-000000002" // billing's rotation key
	keyHR      = "hr-reader-key-0000001"
	keyFar     = "far-away-key-00000001"
	keyShared  = "shared-key-0000000001"
	keyReader  = "pay-reader-key-000001" // token of mp-pay only
)

var clientApps = []App{
	{ID: "mp-main", Provider: "wechat", AppID: "wxmain", Tickets: []string{"jsapi"}, Secret: secretOf("main-secret")},
	{ID: "mp-pay", Provider: "wechat_stable", AppID: "wxpay", Tickets: []string{"jsapi"}, Secret: secretOf("pay-secret")},
	{ID: "hr", Provider: "wecom", AppID: "wwcorp", Tickets: []string{"jsapi"}, Secret: secretOf("hr-secret")},
}

// decisions collects what the Set observes.
type decisions struct {
	mu   sync.Mutex
	list []clients.Decision
}

func (d *decisions) add(x clients.Decision) { d.mu.Lock(); d.list = append(d.list, x); d.mu.Unlock() }

func (d *decisions) take() []clients.Decision {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.list
	d.list = nil
	return out
}

func newClientsEnv(t *testing.T, seen *decisions) *apiEnv {
	t.Helper()
	digest := clients.KeyDigest
	set, err := clients.New(clients.Config{
		AppIDs: []string{"mp-main", "mp-pay", "hr"}, Observe: seen.add,
		Shared: []clients.Digest{digest(keyShared)},
		Clients: []clients.Client{
			{Name: "billing", Keys: []clients.Digest{digest(keyBilling), digest(keyBillNew)}, Apps: []string{"mp-*"},
				Allow:        []clients.Action{clients.Token, clients.Ticket, clients.Sign, clients.Refresh, clients.Status},
				CIDRs:        []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
				RefreshBurst: 2, RefreshPerMinute: 1},
			{Name: "hr", Keys: []clients.Digest{digest(keyHR)}, Apps: []string{"hr"}, Allow: []clients.Action{clients.Token}},
			{Name: "reader", Keys: []clients.Digest{digest(keyReader)}, Apps: []string{"mp-pay"}, Allow: []clients.Action{clients.Token}},
			{Name: "far", Keys: []clients.Digest{digest(keyFar)}, Apps: []string{"*"}, Allow: clients.Actions,
				CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newAPIEnvWith(t, func(c *Config) { c.Apps, c.Clients, c.Compat = clientApps, set, true })
	for _, id := range []string{"mp-main", "mp-main:jsapi", "mp-pay", "hr", "hr:jsapi"} {
		e.writeToken(t, id, "tok-"+id)
	}
	return e
}

// TestAPI_clients_routes: every key x /v1 route is allowed or denied as
// configured: app globs, actions, source CIDRs (the test client comes
// from 127.0.0.1), both rotation keys, the shared list; denied is 403
// JSON, and the Set observed every decision.
func TestAPI_clients_routes(t *testing.T) {
	seen := &decisions{}
	e := newClientsEnv(t, seen)
	routes := []struct {
		method, path, body string
		action             clients.Action
		app                string
	}{
		{"GET", "/v1/status", "", clients.Status, ""},
		{"GET", "/v1/audit", "", clients.Status, ""},
		{"GET", "/v1/apps/mp-main/token", "", clients.Token, "mp-main"},
		{"GET", "/v1/apps/mp-pay/token", "", clients.Token, "mp-pay"},
		{"GET", "/v1/apps/hr/token", "", clients.Token, "hr"},
		{"GET", "/v1/apps/mp-main/tickets/jsapi", "", clients.Ticket, "mp-main"},
		{"GET", "/v1/apps/hr/tickets/jsapi", "", clients.Ticket, "hr"},
		{"POST", "/v1/apps/mp-main/signature", `{"url":"https://a.example/p"}`, clients.Sign, "mp-main"},
		{"POST", "/v1/apps/hr/signature", `{"url":"https://a.example/p"}`, clients.Sign, "hr"},
		{"POST", "/v1/apps/mp-pay/refresh", `{"invalid_token":"old"}`, clients.Refresh, "mp-pay"},
		{"POST", "/v1/apps/hr/tickets/jsapi/refresh", `{"invalid_ticket":"old"}`, clients.Refresh, "hr"},
	}
	type scope struct {
		apps    []string
		actions []clients.Action
	}
	billing := &scope{[]string{"", "mp-main", "mp-pay"}, []clients.Action{clients.Token, clients.Ticket, clients.Sign, clients.Refresh, clients.Status}}
	keys := map[string]*scope{
		keyBilling: billing, keyBillNew: billing,
		keyHR:                  {[]string{"hr"}, []clients.Action{clients.Token}},
		keyReader:              {[]string{"mp-pay"}, []clients.Action{clients.Token}},
		keyShared:              {[]string{"", "mp-main", "mp-pay", "hr"}, clients.Actions},
		keyFar:                 nil, // every scope, but not from 127.0.0.1
		"wrong-key-0000000000": nil,
	}
	for key, sc := range keys {
		for _, rt := range routes {
			want := sc != nil && slices.Contains(sc.apps, rt.app) && slices.Contains(sc.actions, rt.action)
			r := e.do(t, rt.method, rt.path, key, rt.body)
			denied := r.code == 403 || r.code == 401
			if denied == want || r.code == 429 {
				t.Errorf("key %.12s %s %s: %d %s, want allowed=%v", key, rt.method, rt.path, r.code, r.raw, want)
			}
			if denied && r.body["error"] == nil {
				t.Errorf("%s: 403 without a JSON error: %s", rt.path, r.raw)
			}
			if strings.Contains(r.raw, key) {
				t.Errorf("%s: the answer holds the key", rt.path)
			}
		}
	}
	if n := len(seen.take()); n != len(keys)*len(routes) {
		t.Errorf("observed %d decisions, want %d", n, len(keys)*len(routes))
	}
	if r := e.do(t, "GET", "/v1/apps/mp-main/token", "", ""); r.code != 401 {
		t.Errorf("no key: %d", r.code)
	}
}

// TestAPI_clients_statusVisible: a client's status and audit list only
// the apps its globs match.
func TestAPI_clients_statusVisible(t *testing.T) {
	e := newClientsEnv(t, &decisions{})
	ids := func(key string) []string {
		var out []string
		for _, a := range e.do(t, "GET", "/v1/status", key, "").body["apps"].([]any) {
			out = append(out, a.(map[string]any)["id"].(string))
		}
		return out
	}
	if got := ids(keyBilling); !slices.Equal(got, []string{"mp-main", "mp-main:jsapi", "mp-pay", "mp-pay:jsapi"}) {
		t.Errorf("billing's status: %v", got)
	}
	if got := ids(keyShared); len(got) != 6 {
		t.Errorf("shared status: %v", got)
	}
	ctx := context.Background()
	for _, app := range []string{"mp-main", "hr"} {
		_ = e.fleet.AppendAudit(ctx, auditOf(app))
	}
	// Entries of no app: leadership is everyone's; a refusal of a key no
	// client holds is not billing's to see.
	_ = e.fleet.AppendAudit(ctx, fleet.AuditEntry{Action: "token", Outcome: "denied", Detail: "unknown key"})
	_ = e.fleet.AppendAudit(ctx, fleet.AuditEntry{Action: "leader", Outcome: "acquired"})
	var got []string
	for _, x := range e.do(t, "GET", "/v1/audit", keyBilling, "").body["entries"].([]any) {
		m := x.(map[string]any)
		got = append(got, m["app"].(string)+"/"+fmt.Sprint(m["client"]))
	}
	if !slices.Equal(got, []string{"/<nil>", "mp-main/billing"}) {
		t.Errorf("billing's audit (app/client): %q", got)
	}
}

// TestAPI_clients_rateLimited: past its burst a client's refreshes get
// 429 with Retry-After, and no report is recorded; another client's are
// unaffected.
func TestAPI_clients_rateLimited(t *testing.T) {
	seen := &decisions{}
	e := newClientsEnv(t, seen)
	body := `{"invalid_token":"stale-one"}`
	for i := range 2 {
		if r := e.do(t, "POST", "/v1/apps/mp-main/refresh", keyBilling, body); r.code != 200 {
			t.Fatalf("refresh %d: %d %s", i, r.code, r.raw)
		}
	}
	r := e.do(t, "POST", "/v1/apps/mp-main/refresh", keyBillNew, `{"invalid_token":"tok-mp-main"}`)
	if r.code != 429 || r.hdr.Get("Retry-After") != "60" || r.body["error"] == nil {
		t.Fatalf("3rd refresh (rotation key, same client): %d %q %s", r.code, r.hdr.Get("Retry-After"), r.raw)
	}
	if p := e.pending(); p != "" {
		t.Fatalf("a limited refresh recorded a report: %q", p)
	}
	if r := e.do(t, "POST", "/v1/apps/mp-main/refresh", keyShared, body); r.code != 200 {
		t.Fatalf("shared key while billing is limited: %d %s", r.code, r.raw)
	}
	var limited int
	for _, d := range seen.take() {
		if d.Outcome == clients.Limited && d.Client == "billing" {
			limited++
		}
	}
	if limited != 1 {
		t.Fatalf("observed %d limited decisions", limited)
	}
}

// TestCompat_clientKey: a client key in the secret field serves the apps
// its scope allows (the real secret still works); out of scope it gets
// the upstream's wrong-secret answer; force_refresh needs refresh.
func TestCompat_clientKey(t *testing.T) {
	seen := &decisions{}
	e := newClientsEnv(t, seen)
	get := func(path string) reply { return e.do(t, "GET", path, "", "") }
	for _, c := range []struct {
		path, want string
	}{
		{"/cgi-bin/token?grant_type=client_credential&appid=wxmain&secret=" + keyBilling, "tok-mp-main"},
		{"/cgi-bin/token?grant_type=client_credential&appid=wxmain&secret=" + keyBillNew, "tok-mp-main"},
		{"/cgi-bin/token?grant_type=client_credential&appid=wxmain&secret=main-secret", "tok-mp-main"},
		{"/cgi-bin/token?grant_type=client_credential&appid=wxmain&secret=" + keyShared, "tok-mp-main"},
		{"/cgi-bin/token?grant_type=client_credential&appid=wxmain&secret=" + keyHR, "40125"},
		{"/cgi-bin/token?grant_type=client_credential&appid=wxmain&secret=" + keyFar, "40125"},
		{"/cgi-bin/gettoken?corpid=wwcorp&corpsecret=" + keyHR, "tok-hr"},
		{"/cgi-bin/gettoken?corpid=wwcorp&corpsecret=" + keyBilling, "40001"},
	} {
		if r := get(c.path); !strings.Contains(r.raw, c.want) {
			t.Errorf("%s: %s, want %s", c.path, r.raw, c.want)
		}
	}
	body := func(key string) string {
		return `{"grant_type":"client_credential","appid":"wxpay","secret":"` + key + `","force_refresh":true}`
	}
	seen.take()
	// hr's key is not for mp-pay: 40125. billing's is, with refresh,
	// within its burst: a report of the current token is recorded.
	if r := e.do(t, "POST", "/cgi-bin/stable_token", "", body(keyHR)); !strings.Contains(r.raw, "40125") {
		t.Errorf("hr's key for mp-pay: %s", r.raw)
	}
	e.api.refreshWait = time.Second // the report is recorded; nobody answers it
	if r := e.do(t, "POST", "/cgi-bin/stable_token", "", body(keyBilling)); r.body["access_token"] != "tok-mp-pay" {
		t.Errorf("billing's force_refresh: %s", r.raw)
	}
	if p, _ := e.store.PendingReport(context.Background(), "mp-pay"); p != "tok-mp-pay" {
		t.Errorf("billing's force_refresh recorded %q", p)
	}
	var actions []string
	for _, d := range seen.take() {
		actions = append(actions, string(d.Action)+":"+string(d.Outcome))
	}
	if !slices.Equal(actions, []string{"token:denied", "token:allowed", "refresh:allowed"}) {
		t.Errorf("decisions: %v", actions)
	}
	// reader may read mp-pay but not refresh it: force_refresh answers the
	// current token, and records no report.
	_, _ = e.store.ClearReport(context.Background(), "mp-pay", "tok-mp-pay")
	if r := e.do(t, "POST", "/cgi-bin/stable_token", "", body(keyReader)); r.body["access_token"] != "tok-mp-pay" {
		t.Errorf("reader's force_refresh: %s", r.raw)
	}
	if p, _ := e.store.PendingReport(context.Background(), "mp-pay"); p != "" {
		t.Errorf("reader's force_refresh recorded %q", p)
	}
	actions = nil
	for _, d := range seen.take() {
		actions = append(actions, string(d.Action)+":"+string(d.Outcome))
	}
	if !slices.Equal(actions, []string{"token:allowed", "refresh:denied"}) {
		t.Errorf("reader's decisions: %v", actions)
	}
}

// auditOf is an entry for app, asked for by client billing when app is
// set.
func auditOf(app string) fleet.AuditEntry {
	return fleet.AuditEntry{App: app, Client: "billing", Action: "refresh", Outcome: "allowed"}
}

// TestConsole_clientScope: the console page rendered for a client's key
// shows only the credentials its globs match; a key without status
// renders the empty page.
func TestConsole_clientScope(t *testing.T) {
	e := newClientsEnv(t, &decisions{})
	page := func(key string) string {
		req, _ := http.NewRequest("GET", e.srv.URL+"/ui/", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if p := page(keyBilling); !strings.Contains(p, "mp-pay") || strings.Contains(p, ">hr<") || strings.Contains(p, "hr:jsapi") {
		t.Errorf("billing's console shows other apps, or not its own")
	}
	if p := page(keyShared); !strings.Contains(p, "hr:jsapi") {
		t.Errorf("the shared key's console lacks hr")
	}
	if p := page(keyHR); strings.Contains(p, "mp-pay") || strings.Contains(p, "hr:jsapi") {
		t.Errorf("a key without status renders data")
	}
}

// TestAudit_visibleDecision: a named client does not see other clients'
// refusals that name no app (their names, sources and key fingerprints);
// it sees its own, the leader's entries, and everything with an app it
// may see. The shared list and an open API see all.
func TestAudit_visibleDecision(t *testing.T) {
	a := &Server{}
	as := func(name string) context.Context { return context.WithValue(context.Background(), clientKey{}, name) }
	for _, tc := range []struct {
		viewer string
		e      fleet.AuditEntry
		want   bool
	}{
		{"billing", fleet.AuditEntry{Client: "ops", Action: "token", Outcome: "denied"}, false},
		{"billing", fleet.AuditEntry{Action: "token", Outcome: "denied", Detail: "unknown key"}, false},
		{"billing", fleet.AuditEntry{Client: "billing", Action: "refresh", Outcome: "limited"}, true},
		{"billing", fleet.AuditEntry{Action: "leader", Outcome: "acquired"}, true},
		{"billing", fleet.AuditEntry{Client: "ops", App: "mp", Action: "token", Outcome: "denied"}, true},
		{"shared", fleet.AuditEntry{Client: "ops", Action: "token", Outcome: "denied"}, true},
		{"", fleet.AuditEntry{Action: "proxy", Outcome: "denied"}, true},
	} {
		if got := a.visibleDecision(as(tc.viewer), tc.e); got != tc.want {
			t.Errorf("viewer %q, entry %+v: visible %v, want %v", tc.viewer, tc.e, got, tc.want)
		}
	}
}
