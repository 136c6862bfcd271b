package wechattest

import (
	"sync"
	"testing"
	"time"
)

const getticket = "/cgi-bin/ticket/getticket"

// WeChat tickets: the same ticket until it expires, whichever token of the
// account asks (classic or stable, old or new); a repeat reports the full
// lifetime by default; a new ticket at expiry, the old one dead at once.
func TestTicket_wechatSameUntilExpiry(t *testing.T) {
	f := newFake(t, Config{Lifetime: 100 * time.Second})
	tok := f.classic().AccessToken
	t1 := f.mustTicket(f.ticketAt(getticket, tok, KindJSAPI))
	if t1.ExpiresIn != 100 {
		t.Fatalf("first answer expires_in %d, want 100", t1.ExpiresIn)
	}
	f.clk.Step(40 * time.Second)
	for _, tk := range []string{tok, f.classic().AccessToken, f.stable(false).AccessToken} {
		a := f.mustTicket(f.ticketAt(getticket, tk, KindJSAPI))
		if a.Ticket != t1.Ticket || a.ExpiresIn != 100 {
			t.Fatalf("repeat: same=%v expires_in=%d, want the same ticket and 100 (does not shrink)", a.Ticket == t1.Ticket, a.ExpiresIn)
		}
	}
	card := f.mustTicket(f.ticketAt(getticket, tok, KindWxCard))
	if card.Ticket == t1.Ticket {
		t.Fatal("wx_card must have its own ticket")
	}
	wantCode(t, f.ticketAt(getticket, tok, "other"), 40097)
	wantCode(t, f.ticketAt(getticket, tok, ""), 40097)

	f.clk.Step(60*time.Second - time.Nanosecond)
	if st := f.CheckTicket(t1.Ticket); !st.Live() {
		t.Fatalf("1 ns before expiry: %+v", st)
	}
	f.clk.Step(time.Nanosecond)
	if st := f.CheckTicket(t1.Ticket); st.Code != CodeExpired {
		t.Fatalf("at expiry: %+v, want expired (no overlap)", st)
	}
	tok = f.classic().AccessToken
	t3 := f.mustTicket(f.ticketAt(getticket, tok, KindJSAPI))
	if t3.Ticket == t1.Ticket || !f.CheckTicket(t3.Ticket).Live() {
		t.Fatal("the call after expiry must issue a new live ticket")
	}
	au := f.Audit()
	if au.Tickets[appID+"/jsapi"] != 5 || au.Tickets[appID+"/wx_card"] != 1 ||
		au.TicketsIssued[appID+"/jsapi"] != 2 || au.TicketsIssued[appID+"/wx_card"] != 1 || au.Errors["getticket/40097"] != 2 {
		t.Fatalf("audit = %+v", au)
	}
}

func TestTicket_remainingExpiresIn(t *testing.T) {
	f := newFake(t, Config{Lifetime: 100 * time.Second, TicketLifetime: 50 * time.Second, TicketRemainingExpiresIn: true})
	tok := f.classic().AccessToken
	if a := f.mustTicket(f.ticketAt(getticket, tok, KindJSAPI)); a.ExpiresIn != 50 {
		t.Fatalf("expires_in %d, want the ticket lifetime 50", a.ExpiresIn)
	}
	f.clk.Step(20 * time.Second)
	if a := f.mustTicket(f.ticketAt(getticket, tok, KindJSAPI)); a.ExpiresIn != 30 {
		t.Fatalf("repeat expires_in %d, want the true remaining 30", a.ExpiresIn)
	}
}

// A ticket call with a bad token answers like the protected call.
func TestTicket_wechatBadTokens(t *testing.T) {
	f := newFake(t, Config{Lifetime: time.Hour, Overlap: time.Minute})
	old := f.classic().AccessToken
	cur := f.classic().AccessToken
	st := f.stable(false).AccessToken
	f.stable(true) // st is force-refreshed away
	f.clk.Step(time.Minute)
	wantCode(t, f.ticketAt(getticket, old, KindJSAPI), CodeNotLatest)
	wantCode(t, f.ticketAt(getticket, st, KindJSAPI), CodeNotLatest)
	wantCode(t, f.ticketAt(getticket, "bogus", KindJSAPI), CodeIllegal)
	wantCode(t, f.ticketAt(getticket, "", KindJSAPI), CodeMissing)
	f.clk.Step(time.Hour)
	wantCode(t, f.ticketAt(getticket, cur, KindJSAPI), CodeExpired)
	if au := f.Audit(); len(au.Tickets) != 0 || len(au.TicketsIssued) != 0 || au.Superseded != 2 || au.Expired != 1 {
		t.Fatalf("audit = %+v", au)
	}
}

func TestCheckTicket(t *testing.T) {
	f := newMultiFake(t, Config{Lifetime: time.Hour})
	wx := f.mustTicket(f.ticketAt(getticket, f.classic().AccessToken, KindWxCard)).Ticket
	dt := f.mustTicket(f.ticketAt("/get_jsapi_ticket", f.dingToken().AccessToken, "")).Ticket
	for _, tc := range []struct {
		v    string
		want Status
	}{
		{wx, Status{Code: CodeOK, Platform: PlatformWeChat, App: appID, Kind: KindWxCard, ExpiresAt: start.Add(time.Hour)}},
		{dt, Status{Code: CodeOK, Platform: PlatformDingTalk, App: DingTalkKey(dingKey), Kind: KindJSAPI, ExpiresAt: start.Add(time.Hour)}},
		{"never-issued", Status{Code: CodeIllegal}},
		{"", Status{Code: CodeMissing}},
	} {
		if got := f.CheckTicket(tc.v); got != tc.want {
			t.Errorf("CheckTicket(%.8q) = %+v, want %+v", tc.v, got, tc.want)
		}
	}
}

// RotateTicket kills the live ticket at once; the next call gets the new
// one. Unknown owners and kinds are refused.
func TestRotateTicket(t *testing.T) {
	f := newMultiFake(t, Config{})
	tok := f.classic().AccessToken
	old := f.mustTicket(f.ticketAt(getticket, tok, KindJSAPI)).Ticket
	nt := f.RotateTicket(appID, KindJSAPI)
	if nt == "" || nt == old {
		t.Fatal("RotateTicket must issue a new ticket")
	}
	if st := f.CheckTicket(old); st.Code != CodeNotLatest || st.App != appID {
		t.Fatalf("rotated ticket: %+v, want CodeNotLatest", st)
	}
	if a := f.mustTicket(f.ticketAt(getticket, tok, KindJSAPI)); a.Ticket != nt {
		t.Fatal("the next call must get the rotated-in ticket")
	}
	// An owner that never fetched gets one too.
	if v := f.RotateTicket(WeComKey(corpID, agentID), KindAgentConfig); v == "" || !f.CheckTicket(v).Live() {
		t.Fatal("rotating a WeCom app's agent_config ticket")
	}
	for _, bad := range []struct{ owner, kind string }{
		{"wxunknown", KindJSAPI}, {appID, KindAgentConfig}, {WeComKey(corpID, agentID), KindJSAPI},
		{WeComCorpKey(corpID), KindAgentConfig}, {WeComCorpKey("wwunknown"), KindJSAPI},
		{FeishuKey(feishuID), KindJSAPI}, {DingTalkKey(dingKey), KindWxCard},
	} {
		if v := f.RotateTicket(bad.owner, bad.kind); v != "" {
			t.Errorf("RotateTicket(%q, %q) issued a ticket", bad.owner, bad.kind)
		}
	}
	if au := f.Audit(); au.OutOfBand[appID+"/jsapi"] != 1 || au.TicketsIssued[appID+"/jsapi"] != 2 {
		t.Fatalf("audit = %+v", au)
	}
}

// Concurrent ticket calls with different tokens of the account all get the
// one ticket.
func TestTicket_concurrent(t *testing.T) {
	f := newFake(t, Config{DailyQuota: -1})
	toks := []string{f.classic().AccessToken, f.stable(false).AccessToken}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = make(map[string]bool)
	)
	for i := range 20 {
		wg.Go(func() {
			a := f.ticketAt(getticket, toks[i%2], KindJSAPI)
			mu.Lock()
			seen[a.Ticket] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(seen) != 1 || seen[""] {
		t.Fatalf("%d distinct tickets (empty: %v), want 1", len(seen), seen[""])
	}
}
