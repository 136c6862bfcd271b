package wechattest

import (
	"net/url"
	"testing"
	"time"
)

const (
	wecomJSAPI = "/cgi-bin/get_jsapi_ticket"
	wecomAgent = "/cgi-bin/ticket/get"
)

func TestWeComToken_sameWhileValid(t *testing.T) {
	f := newMultiFake(t, Config{Lifetime: 100 * time.Second})
	a1 := f.wecomToken(wecomSecret)
	if a1.ExpiresIn != 100 || a1.ErrMsg != "ok" || a1.contentType != "application/json; charset=UTF-8" {
		t.Fatalf("first answer %+v", a1)
	}
	f.clk.Step(30 * time.Second)
	a2 := f.wecomToken(wecomSecret)
	if a2.AccessToken != a1.AccessToken || a2.ExpiresIn != 70 {
		t.Fatalf("repeat: same=%v expires_in=%d, want the same token and the remaining 70", a2.AccessToken == a1.AccessToken, a2.ExpiresIn)
	}
	other := f.wecomToken(wecomSecret2)
	if other.AccessToken == a1.AccessToken {
		t.Fatal("each app (corpsecret) has its own token")
	}
	f.clk.Step(70*time.Second - time.Nanosecond)
	if a := f.wecomToken(wecomSecret); a.AccessToken != a1.AccessToken || a.ExpiresIn != 0 {
		t.Fatalf("1 ns before expiry: %+v", a)
	}
	f.clk.Step(time.Nanosecond)
	a3 := f.wecomToken(wecomSecret)
	if a3.AccessToken == a1.AccessToken || a3.ExpiresIn != 100 || f.Check(a1.AccessToken) != CodeExpired {
		t.Fatal("at expiry a new token, the old one expired")
	}
	au := f.Audit()
	key := WeComKey(corpID, agentID)
	if au.Fetches[key+"/token"] != 4 || au.Issued[key+"/token"] != 2 || au.Fetches[WeComKey(corpID, agentID2)+"/token"] != 1 {
		t.Fatalf("audit = %+v", au)
	}
}

func TestWeComToken_repeatExtends(t *testing.T) {
	f := newMultiFake(t, Config{Lifetime: 100 * time.Second, WeComRepeat: RenewExtend})
	a1 := f.wecomToken(wecomSecret)
	f.clk.Step(60 * time.Second)
	if a := f.wecomToken(wecomSecret); a.AccessToken != a1.AccessToken || a.ExpiresIn != 100 {
		t.Fatalf("repeat with RenewExtend: %+v, want the same token with 100", a)
	}
	f.clk.Step(99 * time.Second)
	if f.Check(a1.AccessToken) != CodeOK {
		t.Fatal("the extended token must live 100 s from the repeat")
	}
}

func TestWeComToken_errors(t *testing.T) {
	f := newMultiFake(t, Config{})
	for _, tc := range []struct {
		name, corpid, secret string
		code                 int
	}{
		{"missing corpid", "", wecomSecret, 41002},
		{"missing secret", corpID, "", 41004},
		{"unknown corpid", "wwunknown", wecomSecret, 40013},
		{"wrong secret", corpID, "wrong", 40001},
		{"another corp's secret", corpID, feishuSecret, 40001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantPlatformErr(t, f.wecomTokenAs(tc.corpid, tc.secret), PlatformWeCom, tc.code)
		})
	}
	if au := f.Audit(); au.TotalFetches != 0 || au.Errors["wecom/gettoken/40001"] != 2 || au.Errors["wecom/gettoken/40013"] != 1 {
		t.Fatalf("audit = %+v", au)
	}
}

func TestAddWeCom(t *testing.T) {
	f := newMultiFake(t, Config{})
	for _, bad := range [][3]string{
		{"", agentID, "s"}, {corpID, "", "s"}, {corpID, agentID, ""},
		{"ww:1", agentID, "s"}, {corpID, "10:00", "s"}, {corpID, "1000009", wecomSecret},
	} {
		if err := f.AddWeCom(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("AddWeCom(%q, %q, ...) accepted", bad[0], bad[1])
		}
	}
	if err := f.AddWeCom(corpID, agentID, "changed"); err != nil {
		t.Fatal(err)
	}
	wantPlatformErr(t, f.wecomTokenAs(corpID, wecomSecret), PlatformWeCom, 40001)
	f.wecomToken("changed")
}

// The corp jsapi ticket is shared by the corp's apps; agent_config is per
// app; both keep the same ticket until expiry, like WeChat's.
func TestWeComTickets(t *testing.T) {
	f := newMultiFake(t, Config{Lifetime: 100 * time.Second})
	tok1, tok2 := f.wecomToken(wecomSecret).AccessToken, f.wecomToken(wecomSecret2).AccessToken
	j1 := f.mustTicket(f.ticketAt(wecomJSAPI, tok1, ""))
	j2 := f.mustTicket(f.ticketAt(wecomJSAPI, tok2, ""))
	if j1.Ticket != j2.Ticket || j1.ExpiresIn != 100 {
		t.Fatalf("corp ticket: shared=%v expires_in=%d", j1.Ticket == j2.Ticket, j1.ExpiresIn)
	}
	g1 := f.mustTicket(f.ticketAt(wecomAgent, tok1, KindAgentConfig))
	g2 := f.mustTicket(f.ticketAt(wecomAgent, tok2, KindAgentConfig))
	if g1.Ticket == g2.Ticket || g1.Ticket == j1.Ticket {
		t.Fatal("agent_config tickets are per app and distinct from the corp ticket")
	}
	if st := f.CheckTicket(j1.Ticket); st.App != WeComCorpKey(corpID) || st.Platform != PlatformWeCom || st.Kind != KindJSAPI {
		t.Fatalf("corp ticket status %+v", st)
	}
	if st := f.CheckTicket(g2.Ticket); st.App != WeComKey(corpID, agentID2) || st.Kind != KindAgentConfig {
		t.Fatalf("app ticket status %+v", st)
	}
	wantPlatformErr(t, f.ticketAt(wecomAgent, tok1, KindJSAPI), PlatformWeCom, 40058)
	wantPlatformErr(t, f.ticketAt(wecomAgent, tok1, ""), PlatformWeCom, 40058)
	f.clk.Step(40 * time.Second)
	if a := f.mustTicket(f.ticketAt(wecomJSAPI, tok2, "")); a.Ticket != j1.Ticket || a.ExpiresIn != 100 {
		t.Fatalf("repeat: %+v", a)
	}
	f.clk.Step(60 * time.Second)
	tok1 = f.wecomToken(wecomSecret).AccessToken
	if a := f.mustTicket(f.ticketAt(wecomJSAPI, tok1, "")); a.Ticket == j1.Ticket || f.CheckTicket(j1.Ticket).Code != CodeExpired {
		t.Fatal("after expiry: a new corp ticket, the old one dead")
	}
	au := f.Audit()
	if au.TicketsIssued[WeComCorpKey(corpID)+"/jsapi"] != 2 || au.Tickets[WeComKey(corpID, agentID)+"/jsapi"] != 2 ||
		au.Tickets[WeComKey(corpID, agentID2)+"/agent_config"] != 1 {
		t.Fatalf("audit = %+v", au)
	}
}

// The hourly limits slide: a call counts for exactly one hour. The app
// limit binds each app, the corp limit the corp's apps together, each
// ticket kind on its own; a refused call is not counted.
func TestWeComTickets_hourlyLimits(t *testing.T) {
	f := newMultiFake(t, Config{Lifetime: 3 * time.Hour, WeComAppTicketHourly: 2, WeComCorpTicketHourly: 3})
	tok1, tok2 := f.wecomToken(wecomSecret).AccessToken, f.wecomToken(wecomSecret2).AccessToken
	f.mustTicket(f.ticketAt(wecomJSAPI, tok1, ""))
	f.clk.Step(30 * time.Minute)
	f.mustTicket(f.ticketAt(wecomJSAPI, tok1, ""))
	wantPlatformErr(t, f.ticketAt(wecomJSAPI, tok1, ""), PlatformWeCom, 45009) // app limit
	f.mustTicket(f.ticketAt(wecomJSAPI, tok2, ""))
	wantPlatformErr(t, f.ticketAt(wecomJSAPI, tok2, ""), PlatformWeCom, 45009) // corp limit
	f.mustTicket(f.ticketAt(wecomAgent, tok1, KindAgentConfig))                // other kind
	f.clk.Step(30*time.Minute - time.Nanosecond)
	wantPlatformErr(t, f.ticketAt(wecomJSAPI, tok2, ""), PlatformWeCom, 45009)
	f.clk.Step(time.Nanosecond) // the first call is an hour old
	f.mustTicket(f.ticketAt(wecomJSAPI, tok2, ""))
	wantPlatformErr(t, f.ticketAt(wecomJSAPI, tok1, ""), PlatformWeCom, 45009)
	if au := f.Audit(); au.Errors["wecom/get_jsapi_ticket/45009"] != 4 || au.Tickets[WeComKey(corpID, agentID)+"/jsapi"] != 2 {
		t.Fatalf("audit = %+v", au)
	}
}

func TestWeComTickets_unlimited(t *testing.T) {
	f := newMultiFake(t, Config{WeComAppTicketHourly: -1, WeComCorpTicketHourly: -1})
	tok := f.wecomToken(wecomSecret).AccessToken
	for range 120 {
		f.mustTicket(f.ticketAt(wecomJSAPI, tok, ""))
	}
}

// Bad tokens on WeCom's ticket and probe endpoints; tokens never cross
// platforms.
func TestWeCom_badTokens(t *testing.T) {
	f := newMultiFake(t, Config{Lifetime: time.Hour})
	tok := f.wecomToken(wecomSecret).AccessToken
	wx := f.classic().AccessToken
	probe := func(tok string) answer {
		return f.get("/cgi-bin/get_api_domain_ip", url.Values{"access_token": {tok}})
	}
	if a := probe(tok); a.ErrCode != 0 || a.ErrMsg != "ok" || len(a.IPList) == 0 {
		t.Fatalf("probe: %+v", a)
	}
	for _, path := range []string{wecomJSAPI, "/cgi-bin/get_api_domain_ip"} {
		wantPlatformErr(t, f.ticketAt(path, wx, ""), PlatformWeCom, 40014)
		wantPlatformErr(t, f.ticketAt(path, "bogus", ""), PlatformWeCom, 40014)
		wantPlatformErr(t, f.ticketAt(path, "", ""), PlatformWeCom, 41001)
	}
	wantCode(t, f.ticketAt(getticket, tok, KindJSAPI), CodeIllegal)
	if f.call(tok) != CodeIllegal {
		t.Fatal("a WeCom token must not work on WeChat's getcallbackip")
	}
	f.clk.Step(time.Hour)
	wantPlatformErr(t, probe(tok), PlatformWeCom, 42001)
	if au := f.Audit(); au.Probes[WeComKey(corpID, agentID)+"/wecom/get_api_domain_ip"] != 1 || au.Expired != 1 {
		t.Fatalf("audit = %+v", au)
	}
}

// RotateWeCom invalidates the token early: 42001 by default, or the
// configured code; gettoken then returns the new token.
func TestRotateWeCom(t *testing.T) {
	for _, tc := range []struct {
		cfg  int
		want int
	}{{0, 42001}, {40014, 40014}} {
		f := newMultiFake(t, Config{WeComInvalidatedErrcode: tc.cfg})
		old := f.wecomToken(wecomSecret).AccessToken
		nt := f.RotateWeCom(corpID, agentID)
		if nt == "" || nt == old {
			t.Fatal("RotateWeCom must issue a new token")
		}
		wantPlatformErr(t, f.ticketAt(wecomJSAPI, old, ""), PlatformWeCom, tc.want)
		if a := f.wecomToken(wecomSecret); a.AccessToken != nt {
			t.Fatal("gettoken must return the rotated-in token")
		}
		if f.RotateWeCom(corpID, "9999") != "" {
			t.Fatal("rotating an unknown app must return empty")
		}
		if au := f.Audit(); au.OutOfBand[WeComKey(corpID, agentID)+"/token"] != 1 || au.Superseded != 1 {
			t.Fatalf("audit = %+v", au)
		}
	}
}
