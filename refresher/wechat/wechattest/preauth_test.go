package wechattest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestPreAuth_overHTTP: the authorization page flow through the HTTP
// endpoints and hooks, as wxsim serves it: api_create_preauthcode mints a
// new code per call for a valid component token only; the authorize_code
// hook consumes it once and gives an auth_code api_query_auth exchanges;
// the stats count the codes.
func TestPreAuth_overHTTP(t *testing.T) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "success") }))
	defer sink.Close()
	s := NewServer(Config{})
	defer s.Close()
	err := s.AddComponent(Component{AppID: "wxcomp", Secret: "sec", Token: "tok",
		EncodingAESKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", CallbackURLs: []string{sink.URL}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.PushTicket(context.Background(), "wxcomp")
	if err != nil {
		t.Fatal(err)
	}
	post := func(path string, body any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := http.Post(s.URL+path, "application/json", strings.NewReader(string(b)))
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
	m := post("/cgi-bin/component/api_component_token", map[string]string{"component_appid": "wxcomp", "component_appsecret": "sec", "component_verify_ticket": p.Ticket})
	ct, _ := m["component_access_token"].(string)
	if ct == "" {
		t.Fatalf("component token: %v", m)
	}
	create := func(tok string) map[string]any {
		return post("/cgi-bin/component/api_create_preauthcode?component_access_token="+url.QueryEscape(tok), map[string]string{"component_appid": "wxcomp"})
	}
	a, b := create(ct), create(ct)
	if a["pre_auth_code"] == nil || a["pre_auth_code"] == b["pre_auth_code"] || a["expires_in"] != 1800.0 {
		t.Fatalf("pre_auth_codes %v, %v", a, b)
	}
	if m := create("not-a-token"); m["errcode"] == nil || m["errcode"] == 0.0 || m["pre_auth_code"] != nil {
		t.Fatalf("bad component token: %v", m)
	}
	hook := "/components/authorize_code?" + url.Values{"appid": {"wxcomp"}, "authorizer": {"wxpage1"}, "pre_auth_code": {a["pre_auth_code"].(string)}}.Encode()
	m = post(hook, nil)
	code, _ := m["auth_code"].(string)
	if code == "" || m["errcode"] != 0.0 {
		t.Fatalf("authorize_code: %v", m)
	}
	if m := post(hook, nil); m["errcode"] != 40097.0 {
		t.Fatalf("pre_auth_code used twice: %v", m)
	}
	m = post("/cgi-bin/component/api_query_auth?component_access_token="+url.QueryEscape(ct), map[string]string{"component_appid": "wxcomp", "authorization_code": code})
	info, _ := m["authorization_info"].(map[string]any)
	if info["authorizer_appid"] != "wxpage1" || info["authorizer_refresh_token"] != s.AuthorizerRefreshToken("wxcomp", "wxpage1") {
		t.Fatalf("query_auth: %v", m)
	}
	resp, err := http.Get(s.URL + "/components/authorizer_stats?appid=wxcomp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st AuthorizerStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.PreAuthCodes != 2 || st.QueryAuth != 1 || st.EventsPushed != 0 {
		t.Fatalf("stats %+v, %v: want 2 codes, 1 query_auth, no event pushed", st, err)
	}
}
