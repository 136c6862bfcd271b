package wechattest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

func TestProtectedCall_auditOutcomes(t *testing.T) {
	f := newFake(t, Config{Lifetime: time.Hour, Overlap: time.Minute})
	old := f.classic().AccessToken
	cur := f.classic().AccessToken
	f.clk.Step(time.Minute)
	codes := []int{f.call(cur), f.call(cur), f.call(old), f.call("bogus"), f.call("")}
	f.clk.Step(time.Hour)
	codes = append(codes, f.call(cur))
	want := []int{0, 0, 40001, 40014, 41001, 42001}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("codes = %v, want %v", codes, want)
		}
	}
	au := f.Audit()
	if au.Valid != 2 || au.Superseded != 1 || au.Unknown != 1 || au.Missing != 1 || au.Expired != 1 {
		t.Fatalf("audit = %+v", au)
	}
}

func TestRotate_outOfBand(t *testing.T) {
	f := newFake(t, Config{Overlap: time.Minute})
	mine := f.classic().AccessToken
	theirs := f.Rotate(appID)
	if theirs == "" || theirs == mine {
		t.Fatal("Rotate must issue a new token")
	}
	f.clk.Step(time.Minute)
	if got := f.call(mine); got != CodeNotLatest {
		t.Fatalf("after out-of-band rotation: %d, want 40001", got)
	}
	if f.Rotate("wxunknown") != "" || f.RotateStable("wxunknown") != "" {
		t.Fatal("rotating an unknown app must return empty")
	}
	st := f.stable(false).AccessToken
	if ns := f.RotateStable(appID); ns == st || f.Check(st) != CodeNotLatest || f.Check(ns) != 0 {
		t.Fatal("RotateStable must kill the previous stable token")
	}
	au := f.Audit()
	if au.OutOfBand[appID+"/token"] != 1 || au.OutOfBand[appID+"/stable_token"] != 1 ||
		au.Fetches[appID+"/token"] != 1 || au.Issued[appID+"/token"] != 2 {
		t.Fatalf("audit = %+v", au)
	}
}

func TestHTTP_rotateAndAudit(t *testing.T) {
	f := newFake(t, Config{})
	mine := f.classic().AccessToken
	a := f.post("/rotate?"+url.Values{"appid": {appID}}.Encode(), nil)
	if a.AccessToken == "" || a.AccessToken == mine || a.ExpiresIn != 7200 {
		t.Fatalf("rotate: %+v", a)
	}
	a = f.post("/rotate?"+url.Values{"appid": {appID}, "endpoint": {"stable_token"}}.Encode(), nil)
	if f.Check(a.AccessToken) != 0 {
		t.Fatalf("rotate stable: %+v", a)
	}
	wantCode(t, f.post("/rotate?appid=wxunknown", nil), 40013)
	wantCode(t, f.post("/rotate?appid="+appID+"&endpoint=nope", nil), 40097)

	resp, err := f.hc.Get(f.URL + "/audit")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var au Audit
	if err := json.NewDecoder(resp.Body).Decode(&au); err != nil {
		t.Fatal(err)
	}
	if au.TotalFetches != 1 || au.OutOfBand[appID+"/token"] != 1 || au.OutOfBand[appID+"/stable_token"] != 1 {
		t.Fatalf("audit over http = %+v", au)
	}
}

func TestMethods(t *testing.T) {
	f := newFake(t, Config{})
	resp, err := f.hc.Post(f.URL+"/cgi-bin/token", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /cgi-bin/token: %d", resp.StatusCode)
	}
}

// New serves through Handler without listening.
func TestNew_handler(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	s.AddApp(appID, secret)
	if s.URL != "" {
		t.Fatal("an unstarted server has no URL")
	}
	rec := httptest.NewRecorder()
	q := url.Values{"grant_type": {"client_credential"}, "appid": {appID}, "secret": {secret}}
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/cgi-bin/token?"+q.Encode(), nil))
	body, _ := io.ReadAll(rec.Body)
	var a answer
	if err := json.Unmarshal(body, &a); err != nil || a.AccessToken == "" || a.ExpiresIn != 7200 {
		t.Fatalf("answer %s: %v", body, err)
	}
	if s.Check(a.AccessToken) != 0 {
		t.Fatal("token issued through Handler must be valid (real clock)")
	}
}
