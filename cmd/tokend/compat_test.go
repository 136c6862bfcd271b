package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

func TestParseConfig_httpCompat(t *testing.T) {
	for _, tt := range []struct {
		line string
		want bool
	}{
		{"", true},
		{"  compat: true\n", true},
		{"  compat: false\n", false},
	} {
		y := strings.Replace(goodConfig, "http:\n", "http:\n"+tt.line, 1)
		cfg, _, err := parseConfig([]byte(y), getenv, readFile)
		if err != nil || *cfg.HTTP.Compat != tt.want {
			t.Errorf("%q: %v, err %v; want %v", tt.line, cfg != nil && *cfg.HTTP.Compat, err, tt.want)
		}
	}
	y := strings.Replace(goodConfig, "http:\n", "http:\n  compat: sometimes\n", 1)
	if _, _, err := parseConfig([]byte(y), getenv, readFile); err == nil || !strings.Contains(err.Error(), "http.compat") {
		t.Errorf("compat: sometimes: %v, want an error naming http.compat", err)
	}
}

// compatGet calls a WeChat-shaped route and decodes the answer; every
// answer is HTTP 200 JSON.
func compatGet(t *testing.T, method, url, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	return out
}

// TestDaemon_compat: a replica serves the WeChat-shaped routes with the
// secret of secret_file (re-read when it changes), the ticket by the
// token, stable_token's force_refresh as a report; nothing of it in the
// logs.
func TestDaemon_compat(t *testing.T) {
	mr := miniredis.RunT(t)
	up := wechattest.NewServer(wechattest.Config{Lifetime: 2 * time.Hour})
	defer up.Close()
	secrets := []string{"first-secret-0123456789", "second-secret-0123456789"}
	up.AddApp("wxcompat", secrets[0])
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secrets[0]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	y := `
replica_id: compat
redis: {url: "redis://` + mr.Addr() + `/0", timeout: 500ms}
http: {listen: "127.0.0.1:0"}
election: {lease_ttl: 3s, renew_interval: 500ms, renew_deadline: 2s, retry_interval: 100ms}
refresh: {cooldown: 100ms}
log: {level: debug, format: json}
apps: [{id: app, provider: wechat, appid: wxcompat, secret_file: "` + secretFile + `", tickets: [jsapi], base_url: "` + up.URL + `"}]
`
	var logs syncBuffer
	base, stop := startDaemon(t, y, os.Getenv, &logs)
	tokenURL := base + "/cgi-bin/token?grant_type=client_credential&appid=wxcompat&secret="

	var tok string
	wait.Poll(10*time.Second, func() bool {
		tok, _ = compatGet(t, "GET", tokenURL+secrets[0], "")["access_token"].(string)
		return tok != ""
	})
	if up.CheckToken(tok).Code != wechattest.CodeOK {
		t.Fatalf("token %q: not the live one; logs:\n%s", tok, logs.String())
	}
	// The leader's ticket is served for the token presented, and it is
	// the upstream's live one.
	var ticket string
	if _, ok := wait.Poll(5*time.Second, func() bool {
		ticket, _ = mr.Get("{tokend}:token:app:jsapi")
		return ticket != "" && compatGet(t, "GET", base+"/cgi-bin/ticket/getticket?type=jsapi&access_token="+tok, "")["ticket"] == ticket &&
			up.CheckTicket(ticket).Code == wechattest.CodeOK
	}); !ok {
		t.Fatalf("the leader's live ticket is not served for the token; logs:\n%s", logs.String())
	}
	// The secret file changes: the new secret is accepted, the old one
	// refused.
	up.AddApp("wxcompat", secrets[1])
	if err := os.WriteFile(secretFile, []byte(secrets[1]), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := wait.Poll(5*time.Second, func() bool { return compatGet(t, "GET", tokenURL+secrets[1], "")["access_token"] == tok }); !ok {
		t.Fatal("the new secret is not accepted")
	}
	if !strings.Contains(logs.String(), `"action":"secret_reload","outcome":"changed"`) {
		t.Error("no audit entry for the secret_file change")
	}
	if r := compatGet(t, "GET", tokenURL+secrets[0], ""); r["errcode"] != float64(40125) {
		t.Fatalf("old secret: %v", r)
	}
	// force_refresh: the leader fetches once; the answer is the new token.
	r := compatGet(t, "POST", base+"/cgi-bin/stable_token", `{"grant_type":"client_credential","appid":"wxcompat","secret":"`+secrets[1]+`","force_refresh":true}`)
	next, _ := r["access_token"].(string)
	if next == "" || next == tok || up.CheckToken(next).Code != wechattest.CodeOK || up.Audit().Fetches["wxcompat/token"] != 2 {
		t.Fatalf("force_refresh: %v; fetches %v", r, up.Audit().Fetches)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	out := logs.String()
	for name, s := range map[string]string{"old secret": secrets[0], "new secret": secrets[1], "token": tok, "new token": next, "ticket": ticket} {
		if strings.Contains(out, s) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
}
