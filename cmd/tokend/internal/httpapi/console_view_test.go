package httpapi

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/errcodes"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/fleet"
)

// consoleEnv is an API whose one app has a token, a 40164 in its status
// and in the audit stream, and a registered leader replica.
func consoleEnv(t *testing.T, keys []string) *apiEnv {
	t.Helper()
	e := newAPIEnv(t, keys, false)
	ctx := context.Background()
	e.writeToken(t, "mp-main", "tok-console-0001")
	if err := e.store.SetStatus(ctx, "mp-main", store.Status{LastError: "upstream: errcode 40164: invalid ip 10.0.0.1",
		LastErrorCode: 40164, NextRefresh: time.Now().Add(5 * time.Minute), BudgetUsed: 2}); err != nil {
		t.Fatal(err)
	}
	if err := e.fleet.AppendAudit(ctx, fleet.AuditEntry{Time: time.Now(), Replica: "r1", App: "mp-main:jsapi",
		Action: "refresh", Outcome: "config", Errcode: 40164}); err != nil {
		t.Fatal(err)
	}
	if err := e.fleet.PutReplica(ctx, fleet.ReplicaInfo{ID: "r1", Leader: true, Version: "v9", Listen: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	e.rdb.Set(ctx, e.store.Keys().Lease(), "L:r1", time.Minute)
	e.rdb.HSet(ctx, e.store.Keys().Epoch(), "epoch", 3, "leader", "r1")
	return e
}

// The state a server-rendered page shows, in the markup the script also
// writes (the browser test compares the two).
var renderedState = []string{
	`data-state="ready" data-rendered="server"`,
	`<tr data-credential="mp-main"><td><code>mp-main</code></td><td>token</td><td><span class="label warn">valid, last refresh failed</span></td>`,
	`<a class="label bad" href="/ui/errcodes#wechat-40164">error 40164</a><div class="meaning">this host&#39;s IP is not in the WeChat whitelist</div>`,
	`<div class="muted raw">upstream: errcode 40164: invalid ip 10.0.0.1</div>`,
	`<meter min="0" max="7200000"`, `left (100%)</span>`, `<td>in 4m 5`, `<td>2</td>`,
	`<tr data-replica="r1" data-leader="true"><td><code>r1</code></td><td><span class="label ok">★ leader</span></td><td><span class="label ok">live</span></td>`,
	`<td><code>mp-main:jsapi</code></td><td>refresh</td><td><span class="label warn">config</span></td><td><div><a class="label bad" href="/ui/errcodes#wechat-40164">error 40164</a>`,
}

func TestConsole_serverRendered(t *testing.T) {
	e := consoleEnv(t, nil) // no key configured: status is open, so is the page's state
	_, _, body := e.getRaw(t, "/ui/")
	for _, want := range renderedState {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "tok-console-0001") {
		t.Fatal("the page carries the token")
	}
	if len(body) > 60<<10 {
		t.Errorf("page %d bytes", len(body))
	}
}

// TestConsole_serverRendered_keys: with keys configured the page carries
// the state only for a request with a good key (a proxy that adds it);
// without one, or with a wrong one, it is the empty page.
func TestConsole_serverRendered_keys(t *testing.T) {
	e := consoleEnv(t, []string{"k1"})
	for _, tc := range []struct {
		name   string
		bearer []string
		ready  bool
	}{{"no key", nil, false}, {"wrong key", []string{"nope"}, false}, {"good key", []string{"k1"}, true}} {
		code, _, body := e.getRaw(t, "/ui/", tc.bearer...)
		if code != 200 {
			t.Fatalf("%s: %d", tc.name, code)
		}
		got := strings.Contains(body, renderedState[0])
		if got != tc.ready || strings.Contains(body, "data-credential") != tc.ready || strings.Contains(body, "invalid ip") != tc.ready {
			t.Errorf("%s: rendered %v, want %v", tc.name, got, tc.ready)
		}
		if !tc.ready && !strings.Contains(body, "Loading&hellip;") {
			t.Errorf("%s: the empty page lacks its Loading rows", tc.name)
		}
	}
}

// TestConsole_redisDown: the page still answers (empty; the script retries).
func TestConsole_redisDown(t *testing.T) {
	e := consoleEnv(t, nil)
	e.mr.Close()
	code, _, body := e.getRaw(t, "/ui/")
	if code != 200 || strings.Contains(body, "data-rendered") || !strings.Contains(body, "Loading&hellip;") {
		t.Errorf("redis down: %d, rendered %v", code, strings.Contains(body, "data-rendered"))
	}
}

func TestConsole_guide(t *testing.T) {
	e := newAPIEnv(t, []string{"k1"}, false) // the guide needs no key: it holds no data
	_, pageHdr, _ := e.getRaw(t, "/ui/")
	code, hdr, body := e.getRaw(t, errcodes.GuidePath)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || hdr.Get("Content-Security-Policy") != pageHdr.Get("Content-Security-Policy") {
		t.Fatalf("GET %s: %d %v", errcodes.GuidePath, code, hdr)
	}
	checkInlineStyle(t, hdr.Get("Content-Security-Policy"), body)
	for _, en := range errcodes.All() {
		if !strings.Contains(body, `<tr id="`+en.Anchor()+`"><th scope="row"><a href="#`+en.Anchor()+`">`+en.CodeText()+`</a></th>`) {
			t.Errorf("guide lacks the row of %s", en.Anchor())
		}
	}
	for _, want := range []string{`<h2 id="wechat">`, `<h2 id="wecom">`, `<h2 id="feishu">`, `<h2 id="dingtalk">`,
		"add the egress IP", "clear_quota", `href="/ui/"`} {
		if !strings.Contains(strings.ToLower(body), strings.ToLower(want)) {
			t.Errorf("guide lacks %q", want)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("guide names an external resource")
	}
}

// TestAPI_errorHelp: status and audit link each errcode to its guide entry;
// codes without an entry and entries without an error have no link.
func TestAPI_errorHelp(t *testing.T) {
	e := consoleEnv(t, nil)
	r := e.do(t, "GET", "/v1/status", "", "")
	if !strings.Contains(r.raw, `"last_error_code":40164,"error_help":"/ui/errcodes#wechat-40164"`) {
		t.Errorf("status: %s", r.raw)
	}
	r = e.do(t, "GET", "/v1/audit", "", "")
	if !strings.Contains(r.raw, `"errcode":40164,"error_help":"/ui/errcodes#wechat-40164"`) {
		t.Errorf("audit: %s", r.raw)
	}
	ctx := context.Background()
	if err := e.store.SetStatus(ctx, "mp-main", store.Status{LastError: "x", LastErrorCode: 12345}); err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, "GET", "/v1/status", "", ""); strings.Contains(r.raw, "error_help") || !strings.Contains(r.raw, `"last_error_code":12345`) {
		t.Errorf("unknown code: %s", r.raw)
	}
}
