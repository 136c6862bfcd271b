package wecom

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/upstream/upstreamtest"
)

func newTicket(t *testing.T, base, kind string) *Ticket {
	t.Helper()
	tk, err := NewTicket(TicketConfig{Kind: kind, BaseURL: base, HTTPClient: upstreamtest.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestTicket_kinds(t *testing.T) {
	if !slices.Equal(TicketKinds, []string{"jsapi", "agent_config"}) {
		t.Fatalf("TicketKinds = %v", TicketKinds)
	}
	s := upstreamtest.NewServer(t)
	s.Answer(http.StatusOK, `{"errcode":0,"errmsg":"ok","ticket":"T","expires_in":7200}`)
	for kind, want := range map[string]string{"jsapi": "/cgi-bin/get_jsapi_ticket", "agent_config": "/cgi-bin/ticket/get"} {
		tk := newTicket(t, s.URL, kind)
		if tk.Repeat() != upstream.RepeatSameFirstSeen || tk.String() != "wecom.Ticket("+kind+")" {
			t.Fatalf("ticket %v repeat %s", tk, tk.Repeat())
		}
		if _, err := tk.Fetch(context.Background(), upstream.FetchRequest{ParentToken: "P"}); err != nil {
			t.Fatal(err)
		}
		r := s.Last(t)
		wantType := map[string]string{"jsapi": "", "agent_config": "agent_config"}[kind]
		if r.Path != want || r.Query.Get("access_token") != "P" || r.Query.Get("type") != wantType {
			t.Fatalf("%s: request %+v", kind, r)
		}
	}
	for _, kind := range []string{"", "wx_card", "JSAPI"} {
		if _, err := NewTicket(TicketConfig{Kind: kind}); err == nil {
			t.Errorf("kind %q accepted", kind)
		}
	}
}

func TestTicket_answers(t *testing.T) {
	s := upstreamtest.NewServer(t)
	tk := newTicket(t, s.URL, "agent_config")
	const parent = "PARENT-TOKEN"
	cases := append([]upstreamtest.Case{
		// https://developer.work.weixin.qq.com/document/path/90506 (as
		// quoted at blog.csdn.net/qq_45888932/article/details/125565391).
		{Name: "documented example", Body: `{"errcode":0,"errmsg":"ok","ticket":"bxLdikRXVbTPdHSM05e5u5sUoXNKd8-41ZO3MhKoyN5OfkWITDGgnr2fwJ0m9E8NYzWKVZvdVtaUgWvsdshFKA","expires_in":7200}`,
			Want: 7200 * time.Second, Value: "bxLdikRXVbTPdHSM05e5u5sUoXNKd8-41ZO3MhKoyN5OfkWITDGgnr2fwJ0m9E8NYzWKVZvdVtaUgWvsdshFKA"},
		// As reported on developers.weixin.qq.com (community).
		{Name: "invalid token", Body: `{"errcode":40014,"errmsg":"invalid access_token, hint: [1724828925128591361738622], from ip: , more info at https://open.work.weixin.qq.com/devtool/query?e=40014","warning_msg":"you are using TLS v1 which is deprecated, please use TLS v1.2 or higher."}`,
			Code: 40014, Class: upstream.ClassTokenRejected},
		{Name: "expired token", Body: `{"errcode": 42001, "errmsg": "access_token expired, hint: [1704941403120931704370802], from ip: 10.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=42001"}`,
			Code: 42001, Class: upstream.ClassTokenRejected},
		{Name: "missing token", Body: `{"errcode":41001,"errmsg":"access_token missing"}`, Code: 41001, Class: upstream.ClassTokenRejected},
		{Name: "hourly limit", Body: `{"errcode":45009,"errmsg":"api freq out of limit"}`, Code: 45009, Class: upstream.ClassRetry},
		{Name: "no permission", Body: `{"errcode":48002,"errmsg":"api forbidden"}`, Code: 48002, Class: upstream.ClassConfig},
		{Name: "ip not allowed", Body: `{"errcode":60020,"errmsg":"not allow to access from your ip"}`, Code: 60020, Class: upstream.ClassConfig},
	}, upstreamtest.GarbageCases(`"errcode":0,"errmsg":"ok"`, "ticket", "expires_in")...)
	upstreamtest.Run(t, s, cases, func() (upstream.Token, error) {
		return tk.Fetch(context.Background(), upstream.FetchRequest{ParentToken: parent})
	}, parent)
}

func TestTicket_token(t *testing.T) {
	for _, kind := range TicketKinds {
		op := map[string]string{"jsapi": "get_jsapi_ticket", "agent_config": "ticket/get"}[kind]
		upstreamtest.CheckTokenCall(t, op, func(base, token string) error {
			_, err := newTicket(t, base, kind).Fetch(context.Background(), upstream.FetchRequest{ParentToken: token})
			return err
		}, func(token string) string { return `{"errcode":40014,"errmsg":"invalid access_token ` + token + `"}` })
	}
}

func TestProber(t *testing.T) {
	probe := func(base, token string) error {
		p, err := NewProber(testConfig(t, base))
		if err != nil {
			t.Fatal(err)
		}
		return p.Probe(context.Background(), token)
	}
	s := upstreamtest.NewServer(t)
	// Answer shape: https://developer.work.weixin.qq.com/document/path/92520
	s.Answer(http.StatusOK, `{"ip_list":["182.254.11.176","182.254.78.66"],"errcode":0,"errmsg":"ok"}`)
	if err := probe(s.URL, "tok"); err != nil || s.Last(t).Path != "/cgi-bin/get_api_domain_ip" {
		t.Fatalf("probe: %v", err)
	}
	for code, class := range map[int]upstream.Class{
		40014: upstream.ClassTokenRejected, 42001: upstream.ClassTokenRejected, 41001: upstream.ClassTokenRejected,
		40001: upstream.ClassConfig, 60020: upstream.ClassConfig, -1: upstream.ClassRetry,
	} {
		s.Answer(http.StatusOK, fmt.Sprintf(`{"errcode":%d,"errmsg":"x"}`, code))
		upstreamtest.WantError(t, probe(s.URL, "tok"), code, 0, class)
	}
	upstreamtest.CheckTokenCall(t, "get_api_domain_ip", probe, func(token string) string {
		return `{"errcode":42001,"errmsg":"access_token expired ` + token + `"}`
	})
}
