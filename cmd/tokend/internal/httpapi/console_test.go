package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/store/fleet"
)

// getRaw fetches path raw (the console is not JSON), with bearer when
// not empty.
func (e *apiEnv) getRaw(t *testing.T, path string, bearer ...string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if len(bearer) > 0 {
		req.Header.Set("Authorization", "Bearer "+bearer[0])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestConsole_page(t *testing.T) {
	e := newAPIEnv(t, []string{"k1"}, false) // keys configured: the page itself needs none
	code, hdr, body := e.getRaw(t, "/ui/")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /ui/: %d %q", code, hdr.Get("Content-Type"))
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	checkInlineStyle(t, hdr.Get("Content-Security-Policy"), body)
	for _, want := range []string{
		`<dt data-anchor="wechat-40164"><a href="/ui/errcodes#wechat-40164">wechat 40164</a></dt><dd>this host&#39;s IP is not in the WeChat whitelist</dd>`,
		`<strong id="served-by">r1</strong>`, `src="/ui/console.js"`, `data-poll-ms="3000"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"http://", "https://", "//cdn"} {
		if strings.Contains(body, bad) {
			t.Errorf("page names an external resource (%q)", bad)
		}
	}
	total := len(body)
	for _, f := range []string{"console.js"} {
		code, hdr, b := e.getRaw(t, "/ui/"+f)
		if code != 200 || hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %v", f, code, hdr)
		}
		if strings.Contains(b, "http://") || strings.Contains(b, "https://") {
			t.Errorf("%s names an external resource", f)
		}
		total += len(b)
	}
	if total > 100<<10 {
		t.Errorf("page weight %d bytes, want < 100 KB", total)
	}
	for _, p := range []string{"/ui/other", "/ui/console.html", "/ui/parts.html", "/ui/console.css", "/ui/..%2fconsole.go", "/ui/ui/console.js"} {
		if code, _, _ := e.getRaw(t, p); code != 404 {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
}

func TestAPI_audit(t *testing.T) {
	e := newAPIEnv(t, []string{"k1"}, false)
	ctx := context.Background()
	for i := range 3 {
		if err := e.fleet.AppendAudit(ctx, fleet.AuditEntry{Time: time.Now(), Replica: "r1", App: "mp-main",
			Action: "refresh", Outcome: "config", Errcode: 40164 + i, Fingerprint: "0badf00d"}); err != nil {
			t.Fatal(err)
		}
	}
	if r := e.do(t, "GET", "/v1/audit", "", ""); r.code != 401 {
		t.Fatalf("without a key: %d", r.code)
	}
	if r := e.do(t, "GET", "/v1/audit", "wrong", ""); r.code != 403 {
		t.Fatalf("wrong key: %d", r.code)
	}
	r := e.do(t, "GET", "/v1/audit?limit=2", "k1", "")
	entries, _ := r.body["entries"].([]any)
	if r.code != 200 || len(entries) != 2 {
		t.Fatalf("limit=2: %d %s", r.code, r.raw)
	}
	first, _ := entries[0].(map[string]any)
	if first["errcode"] != float64(40166) || first["token_fingerprint"] != "0badf00d" || first["app"] != "mp-main" {
		t.Errorf("newest entry %v", first)
	}
	for _, bad := range []string{"0", "501", "x", "-1"} {
		if r := e.do(t, "GET", "/v1/audit?limit="+bad, "k1", ""); r.code != 400 {
			t.Errorf("limit=%s: %d", bad, r.code)
		}
	}
	e.rdb.Del(ctx, fleet.AuditKey(e.store.Keys()))
	e.rdb.Set(ctx, fleet.AuditKey(e.store.Keys()), "x", 0)
	r = e.do(t, "GET", "/v1/audit", "k1", "")
	if r.code != 200 || !strings.Contains(r.raw, "wrong type") {
		t.Errorf("wrong-typed audit key: %d %s", r.code, r.raw)
	}
}

func TestAPI_status_replicas(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	ctx := context.Background()
	if err := e.fleet.PutReplica(ctx, fleet.ReplicaInfo{ID: "r1", Leader: true, Version: "v9", Listen: "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	e.rdb.HSet(ctx, fleet.ReplicasKey(e.store.Keys()), "r2", "garbage", "r3", `{"seen":1,"leader":false}`)
	r := e.do(t, "GET", "/v1/status", "", "")
	reps, _ := r.body["replicas"].([]any)
	if r.code != 200 || len(reps) != 3 {
		t.Fatalf("status: %d %s", r.code, r.raw)
	}
	want := []string{
		`"id":"r1"`, `"leader":true`, `"version":"v9"`, `"listen":"127.0.0.1:1"`,
		`{"id":"r2","seen":null,"leader":false,"version":"","listen":"","stale":true,"corrupt":true}`,
	}
	for _, w := range want {
		if !strings.Contains(r.raw, w) {
			t.Errorf("status lacks %s: %s", w, r.raw)
		}
	}
	if s, _ := reps[2].(map[string]any); s["stale"] != true {
		t.Errorf("r3 seen at 1 ms not stale: %v", s)
	}
	// A registry of the wrong type never fails status.
	e.rdb.Del(ctx, fleet.ReplicasKey(e.store.Keys()))
	e.rdb.Set(ctx, fleet.ReplicasKey(e.store.Keys()), "x", 0)
	r = e.do(t, "GET", "/v1/status", "", "")
	if r.code != 200 || !strings.Contains(r.raw, `"replicas_error":"replica registry unreadable`) {
		t.Errorf("wrong-typed registry: %d %s", r.code, r.raw)
	}
}

// checkInlineStyle: the page's one inline stylesheet is the one the CSP
// allows by hash (else the browser drops it and the page is unstyled).
func checkInlineStyle(t *testing.T, csp, body string) {
	t.Helper()
	_, rest, ok := strings.Cut(body, "<style>")
	style, _, ok2 := strings.Cut(rest, "</style>")
	if !ok || !ok2 || strings.Count(body, "<style") != 1 || style == "" {
		t.Fatalf("want one inline stylesheet")
	}
	sum := sha256.Sum256([]byte(style))
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
		t.Errorf("CSP %q lacks the stylesheet's hash (%s)", csp, want)
	}
}
