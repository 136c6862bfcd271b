package wechattest

import (
	"net/url"
	"testing"
	"time"
)

// DingTalk: the same token while valid, each repeat extends its life to a
// full Lifetime (default); with RenewKeep expires_in shrinks.
func TestDingTalkToken_repeat(t *testing.T) {
	for _, tc := range []struct {
		name    string
		renew   Renewal
		repeat  int  // expires_in of the repeat 60 s later
		aliveAt bool // still valid 100 s after the first call
	}{
		{"default extends", RenewDefault, 100, true},
		{"keep", RenewKeep, 40, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newMultiFake(t, Config{Lifetime: 100 * time.Second, DingTalkRepeat: tc.renew})
			a1 := f.dingToken()
			if a1.ExpiresIn != 100 || a1.ErrMsg != "ok" || a1.contentType != "application/json;charset=utf-8" {
				t.Fatalf("first answer %+v", a1)
			}
			f.clk.Step(60 * time.Second)
			if a := f.dingToken(); a.AccessToken != a1.AccessToken || a.ExpiresIn != tc.repeat {
				t.Fatalf("repeat: same=%v expires_in=%d, want the same token with %d", a.AccessToken == a1.AccessToken, a.ExpiresIn, tc.repeat)
			}
			f.clk.Step(40 * time.Second)
			if alive := f.Check(a1.AccessToken) == CodeOK; alive != tc.aliveAt {
				t.Fatalf("at 100 s: alive=%v, want %v", alive, tc.aliveAt)
			}
			if !tc.aliveAt && f.dingToken().AccessToken == a1.AccessToken {
				t.Fatal("after expiry a new token")
			}
		})
	}
}

func TestDingTalkToken_errors(t *testing.T) {
	f := newMultiFake(t, Config{})
	for _, tc := range []struct {
		key, sec string
		code     int
	}{
		{"", dingSecret, 40035}, {dingKey, "", 40035}, {"dingunknown", dingSecret, 40096}, {dingKey, "wrong", 40096},
	} {
		wantPlatformErr(t, f.dingTokenAs(tc.key, tc.sec), PlatformDingTalk, tc.code)
	}
	if au := f.Audit(); au.TotalFetches != 0 || au.Errors["dingtalk/gettoken/40096"] != 2 {
		t.Fatalf("audit = %+v", au)
	}
}

func TestDingTalkTicketAndProbe(t *testing.T) {
	f := newMultiFake(t, Config{Lifetime: 100 * time.Second})
	tok := f.dingToken().AccessToken
	t1 := f.mustTicket(f.ticketAt("/get_jsapi_ticket", tok, ""))
	f.clk.Step(50 * time.Second)
	if a := f.mustTicket(f.ticketAt("/get_jsapi_ticket", tok, "")); a.Ticket != t1.Ticket || a.ExpiresIn != 100 {
		t.Fatalf("repeat: %+v", a)
	}
	probe := func(tok string) answer {
		return f.post("/topapi/user/count?"+url.Values{"access_token": {tok}}.Encode(), map[string]bool{"only_active": false})
	}
	if a := probe(tok); a.ErrCode != 0 || a.ErrMsg != "ok" {
		t.Fatalf("probe: %+v", a)
	}
	wantPlatformErr(t, probe("bogus"), PlatformDingTalk, 40014)
	wantPlatformErr(t, probe(""), PlatformDingTalk, 41001)
	nt := f.RotateDingTalk(dingKey)
	if nt == "" || f.RotateDingTalk("dingunknown") != "" {
		t.Fatal("RotateDingTalk must issue a new token for a known app only")
	}
	wantPlatformErr(t, f.ticketAt("/get_jsapi_ticket", tok, ""), PlatformDingTalk, 40014)
	if a := f.mustTicket(f.ticketAt("/get_jsapi_ticket", nt, "")); a.Ticket != t1.Ticket {
		t.Fatal("a new token still gets the same ticket")
	}
	f.clk.Step(50 * time.Second)
	wantPlatformErr(t, probe(tok), PlatformDingTalk, 42001)
	if au := f.Audit(); au.Probes[DingTalkKey(dingKey)+"/dingtalk/user/count"] != 1 || au.Tickets[DingTalkKey(dingKey)+"/jsapi"] != 3 {
		t.Fatalf("audit = %+v", au)
	}
}
