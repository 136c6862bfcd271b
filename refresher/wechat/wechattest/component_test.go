package wechattest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/msgcrypt"
)

// TestComponent_overHTTP drives a component through the HTTP hooks, as a
// test in another process does with wxsim: register, push (decrypted
// here with msgcrypt), fetch the token with the pushed ticket, 61006 for
// an unknown ticket, start_push, stats; automatic pushes stop with Close
// (goleak checks it).
func TestComponent_overHTTP(t *testing.T) {
	const key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	crypt, err := msgcrypt.New(msgcrypt.Config{Token: "tok", EncodingAESKey: key, AppID: "wxcomp"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		tickets []string
	)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		q := r.URL.Query()
		_, rest, _ := strings.Cut(string(b), "<Encrypt><![CDATA[")
		enc, _, _ := strings.Cut(rest, "]]>")
		msg, err := crypt.VerifyAndDecrypt(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), enc)
		if err != nil || q.Get("encrypt_type") != "aes" {
			http.Error(w, "bad push", http.StatusForbidden)
			return
		}
		_, rest, _ = strings.Cut(string(msg), "<ComponentVerifyTicket><![CDATA[")
		tk, _, _ := strings.Cut(rest, "]]>")
		mu.Lock()
		tickets = append(tickets, tk)
		mu.Unlock()
		_, _ = io.WriteString(w, "success")
	}))
	defer sink.Close()
	s := NewServer(Config{})
	defer s.Close()
	post := func(path, body string) map[string]any {
		t.Helper()
		resp, err := http.Post(s.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	reg := `{"appid":"wxcomp","secret":"sec","token":"tok","encoding_aes_key":"` + key + `","callback_urls":["` + sink.URL + `"],"push_every":"50ms"}`
	if m := post("/components", reg); m["errcode"] != 0.0 {
		t.Fatalf("register: %v", m)
	}
	if m := post("/components?x=1", `{"appid":"wxcomp"}`); m["errcode"] != 40097.0 {
		t.Fatalf("register without secret: %v, want 40097", m)
	}
	if m := post("/components/push?appid=wxcomp", ""); m["body"] != "success" {
		t.Fatalf("push: %v", m)
	}
	mu.Lock()
	first := tickets[0]
	mu.Unlock()
	tokenReq := func(ticket string) map[string]any {
		b, _ := json.Marshal(map[string]string{"component_appid": "wxcomp", "component_appsecret": "sec", "component_verify_ticket": ticket})
		return post("/cgi-bin/component/api_component_token", string(b))
	}
	if m := tokenReq(first); m["component_access_token"] == nil || m["expires_in"] != 7200.0 {
		t.Fatalf("token: %v", m)
	}
	if m := tokenReq("never-pushed"); m["errcode"] != float64(CodeTicketInvalid) {
		t.Fatalf("unknown ticket: %v, want 61006", m)
	}
	post("/components/expire_tickets?appid=wxcomp", "")
	if m := tokenReq(first); m["errcode"] != float64(CodeTicketExpired) {
		t.Fatalf("expired ticket: %v, want 61005", m)
	}
	if m := post("/cgi-bin/component/api_start_push_ticket", `{"component_appid":"wxcomp","component_secret":"sec"}`); m["errcode"] != 0.0 {
		t.Fatalf("start_push: %v", m)
	}
	wait.For(t, 5*time.Second, "automatic pushes", func() bool { return s.ComponentStats("wxcomp").Pushes >= 3 })
	resp, err := http.Get(s.URL + "/components/stats?" + url.Values{"appid": {"wxcomp"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st ComponentStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.TokenFetches != 1 || st.TicketRefused != 2 || st.StartPush != 1 || !st.Pushing {
		t.Fatalf("stats %+v, %v: want 1 fetch, 2 refused, 1 start_push, pushing", st, err)
	}
}
