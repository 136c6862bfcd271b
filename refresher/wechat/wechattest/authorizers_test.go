package wechattest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestAuthorizers_tenThousandCheap: 10,000 authorizers are added and
// listed in pages of 500 quickly; a page of 501 and a bogus component
// token are refused; a revoked one leaves the list.
func TestAuthorizers_tenThousandCheap(t *testing.T) {
	s := NewServer(Config{DailyQuota: -1})
	defer s.Close()
	if err := s.AddComponent(Component{AppID: "wxc", Secret: "sec", Token: "t", EncodingAESKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
		CallbackURLs: []string{"http://127.0.0.1:1/unused"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ids, err := s.AddAuthorizers("wxc", "wxa", 10_000)
	if err != nil || len(ids) != 10_000 {
		t.Fatalf("add: %d, %v", len(ids), err)
	}
	s.mu.Lock()
	ct, _ := s.classicLocked(s.now(), s.open.Locked("wxc").App)
	s.mu.Unlock()
	list := func(offset, count int, tok string) map[string]any {
		t.Helper()
		b, _ := json.Marshal(map[string]any{"component_appid": "wxc", "offset": offset, "count": count})
		resp, err := http.Post(s.URL+"/cgi-bin/component/api_get_authorizer_list?component_access_token="+tok, "application/json", bytes.NewReader(b))
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
	seen := 0
	for off := 0; off < 10_000; off += 500 {
		m := list(off, 500, ct)
		if m["total_count"] != 10_000.0 {
			t.Fatalf("page at %d: %v", off, m["total_count"])
		}
		seen += len(m["list"].([]any))
	}
	if took := time.Since(start); seen != 10_000 || took > 20*time.Second {
		t.Fatalf("listed %d in %s", seen, took)
	}
	if m := list(0, 501, ct); m["errcode"] != float64(CodeInvalidArgs) {
		t.Errorf("a page of 501: %v", m)
	}
	if m := list(0, 10, "bogus"); m["errcode"] == nil {
		t.Errorf("a bogus component token listed: %v", m["total_count"])
	}
	s.RevokeAuthorizer("wxc", ids[0])
	if m := list(0, 1, ct); m["total_count"] != 9_999.0 {
		t.Errorf("after a revoke: %v", m["total_count"])
	}
}
