package main

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"

	"github.com/tokend/tokend/store/jssdk"
)

// TestStartDevRedis_portTaken: dev mode says why and where it moves
// (issue 11 item 15). The test takes a free port, never 6379.
func TestStartDevRedis_portTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var buf bytes.Buffer
	mr, err := startDevRedis(slog.New(slog.NewTextHandler(&buf, nil)), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	out := buf.String()
	if mr.Addr() == ln.Addr().String() || !strings.Contains(out, ln.Addr().String()+" is taken") || !strings.Contains(out, "listens on "+mr.Addr()) {
		t.Fatalf("addr %s, log %s", mr.Addr(), out)
	}
}

// TestPrintBanner: the banner says how to read the token and the demo
// app's jsapi ticket (HTTP and raw Redis) and how to get a signature.
func TestPrintBanner(t *testing.T) {
	var b bytes.Buffer
	printBanner(&b, "127.0.0.1:8080", "127.0.0.1", "6379", "http://127.0.0.1:9999")
	out := b.String()
	for _, want := range []string{
		"curl -s http://127.0.0.1:8080/v1/apps/demo/token",
		"redis-cli -h 127.0.0.1 -p 6379 GET '{tokend}:token:demo'",
		`curl -s -X POST -d '{"invalid_token":"<token>"}' http://127.0.0.1:8080/v1/apps/demo/refresh`,
		"curl -s http://127.0.0.1:8080/v1/apps/demo/tickets/jsapi",
		"redis-cli -h 127.0.0.1 -p 6379 GET '{tokend}:token:demo:jsapi'",
		`curl -s -X POST -d '{"url":"http://127.0.0.1:3000/page?id=1"}' http://127.0.0.1:8080/v1/apps/demo/signature`,
		"fake WeChat upstream at http://127.0.0.1:9999",
		"Console (open in a browser): http://127.0.0.1:8080/ui/",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "{api}") || strings.Contains(out, "{app}") || strings.Contains(out, devSecret) {
		t.Errorf("banner has a placeholder left or the secret:\n%s", out)
	}
}

// checkDevTicket: the dev-mode demo app keeps a jsapi ticket: status
// lists it, and the ticket and signature routes serve it.
func checkDevTicket(t *testing.T, base string) {
	t.Helper()
	var st struct {
		Apps []struct{ ID, Kind, Parent string } `json:"apps"`
	}
	if code := getJSON(t, "GET", base+"/v1/status", "", &st); code != 200 || len(st.Apps) != 2 ||
		st.Apps[1].ID != "demo:jsapi" || st.Apps[1].Kind != "jsapi" || st.Apps[1].Parent != "demo" {
		t.Fatalf("status: %d %+v", code, st)
	}
	var ticket struct {
		Ticket string `json:"ticket"`
	}
	wait.For(t, 10*time.Second, "the demo app's jsapi ticket", func() bool {
		return getJSON(t, "GET", base+"/v1/apps/demo/tickets/jsapi", "", &ticket) == 200
	})
	var sig map[string]any
	if code := getJSON(t, "POST", base+"/v1/apps/demo/signature", `{"url":"http://127.0.0.1:3000/page?id=1#top"}`, &sig); code != 200 {
		t.Fatalf("signature route: %d (%v)", code, sig)
	}
	nonce, _ := sig["nonce_str"].(string)
	ts, _ := sig["timestamp"].(float64)
	if sig["appid"] != devAppID || sig["url"] != "http://127.0.0.1:3000/page?id=1" ||
		sig["signature"] != jssdk.Sign(ticket.Ticket, nonce, int64(ts), "http://127.0.0.1:3000/page?id=1") {
		t.Fatalf("signature %v does not verify against the ticket", sig)
	}
}
