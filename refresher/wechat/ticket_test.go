package wechat

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/upstream/upstreamtest"
)

// The providers satisfy the refresher's interfaces and state their
// repeat semantics.
var (
	_ upstream.Provider = (*Classic)(nil)
	_ upstream.Provider = (*Stable)(nil)
	_ upstream.Provider = (*Ticket)(nil)
	_ upstream.Prober   = (*Prober)(nil)
)

func TestRepeat(t *testing.T) {
	cfg := Config{AppID: testAppID, Secret: testSecret}
	c, _ := NewClassic(cfg)
	s, _ := NewStable(cfg)
	tk, _ := NewTicket(TicketConfig{Kind: "wx_card"})
	if c.Repeat() != upstream.RepeatNew || s.Repeat() != upstream.RepeatSameTrusted || tk.Repeat() != upstream.RepeatSameFirstSeen {
		t.Fatalf("repeat: classic %s stable %s ticket %s", c.Repeat(), s.Repeat(), tk.Repeat())
	}
	if len(TicketKinds) != 2 || TicketKinds[0] != "jsapi" || TicketKinds[1] != "wx_card" || DefaultBaseURL != "https://api.weixin.qq.com" {
		t.Fatalf("TicketKinds %v", TicketKinds)
	}
}

func newTicket(t *testing.T, base, kind string) *Ticket {
	t.Helper()
	tk, err := NewTicket(TicketConfig{Kind: kind, BaseURL: base, HTTPClient: upstreamtest.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestTicket_answers(t *testing.T) {
	s := upstreamtest.NewServer(t)
	tk := newTicket(t, s.URL, "jsapi")
	const parent = "PARENT_ACCESS_TOKEN"
	fetch := func() (upstream.Token, error) {
		return tk.Fetch(context.Background(), upstream.FetchRequest{ParentToken: parent})
	}
	cases := append([]upstreamtest.Case{
		// https://developers.weixin.qq.com/doc/service/api/invoice/auth/api_getticket.html
		{Name: "documented example", Body: `{"errcode":0,"errmsg":"ok","ticket":"bxLdikRXVbTPdHSM05e5u5sUoXNKdvsdshFKA","expires_in":7200}`,
			Want: 7200 * time.Second, Value: "bxLdikRXVbTPdHSM05e5u5sUoXNKdvsdshFKA"},
		{Name: "invalid token", Body: `{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest rid: 1"}`, Code: 40001, Class: upstream.ClassTokenRejected},
		{Name: "illegal token", Body: `{"errcode":40014,"errmsg":"invalid access_token"}`, Code: 40014, Class: upstream.ClassTokenRejected},
		{Name: "expired token", Body: `{"errcode":42001,"errmsg":"access_token expired"}`, Code: 42001, Class: upstream.ClassTokenRejected},
		{Name: "missing token", Body: `{"errcode":41001,"errmsg":"access_token missing"}`, Code: 41001, Class: upstream.ClassTokenRejected},
		{Name: "daily quota", Body: `{"errcode":45009,"errmsg":"reach max api daily quota limit"}`, Code: 45009, Class: upstream.ClassQuota},
		{Name: "minute quota", Body: `{"errcode":45011,"errmsg":"api minute-quota reach limit"}`, Code: 45011, Class: upstream.ClassRetry},
		{Name: "unauthorized api", Body: `{"errcode":48001,"errmsg":"api unauthorized"}`, Code: 48001, Class: upstream.ClassConfig},
		{Name: "busy", Body: `{"errcode":-1,"errmsg":"system error"}`, Code: -1, Class: upstream.ClassRetry},
		{Name: "unknown code", Body: `{"errcode":12345}`, Code: 12345, Class: upstream.ClassRetry},
	}, upstreamtest.GarbageCases(`"errcode":0,"errmsg":"ok"`, "ticket", "expires_in")...)
	upstreamtest.Run(t, s, cases, fetch, parent)
	r := s.Last(t)
	if r.Path != "/cgi-bin/ticket/getticket" || r.Query.Get("type") != "jsapi" || r.Query.Get("access_token") != parent {
		t.Fatalf("request %+v", r)
	}
	newTicket(t, s.URL, "wx_card").Fetch(context.Background(), upstream.FetchRequest{ParentToken: parent})
	if got := s.Last(t).Query.Get("type"); got != "wx_card" {
		t.Fatalf("type = %q", got)
	}
}

func TestTicket_token(t *testing.T) {
	upstreamtest.CheckTokenCall(t, "getticket", func(base, token string) error {
		_, err := newTicket(t, base, "jsapi").Fetch(context.Background(), upstream.FetchRequest{ParentToken: token})
		return err
	}, func(token string) string { return `{"errcode":40001,"errmsg":"invalid credential ` + token + `"}` })
}

func TestTicket_config(t *testing.T) {
	for _, cfg := range []TicketConfig{{}, {Kind: "agent_config"}, {Kind: "JSAPI"}, {Kind: "jsapi", BaseURL: "ftp://x"}, {Kind: "jsapi", MinExpiresIn: -1}} {
		if tk, err := NewTicket(cfg); tk != nil || err == nil {
			t.Errorf("NewTicket(%+v) = %v, %v", cfg, tk, err)
		}
	}
}

func TestProber(t *testing.T) {
	s := upstreamtest.NewServer(t)
	probe := func(base, token string) error {
		cfg := testConfig(t, base, nil)
		p, err := NewProber(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return p.Probe(context.Background(), token)
	}
	// https://developers.weixin.qq.com/doc/service/en/Basic_Information/Get_the_WeChat_server_IP_address.html
	s.Answer(http.StatusOK, `{ "ip_list": [ "127.0.0.1", "127.0.0.2", "101.226.103.0/25" ]}`)
	if err := probe(s.URL, "tok"); err != nil || s.Last(t).Path != "/cgi-bin/getcallbackip" {
		t.Fatalf("probe: %v", err)
	}
	for code, class := range map[int]upstream.Class{
		40001: upstream.ClassTokenRejected, 40014: upstream.ClassTokenRejected, 42001: upstream.ClassTokenRejected,
		41001: upstream.ClassTokenRejected, -1: upstream.ClassRetry, 40164: upstream.ClassConfig,
		40013: upstream.ClassConfig, // the documented error example, same page
	} {
		s.Answer(http.StatusOK, fmt.Sprintf(`{"errcode":%d,"errmsg":"x"}`, code))
		upstreamtest.WantError(t, probe(s.URL, "tok"), code, 0, class)
	}
	upstreamtest.CheckTokenCall(t, "getcallbackip", probe, func(token string) string {
		return `{"errcode":40001,"errmsg":"invalid credential ` + token + `"}`
	})
	if _, err := NewProber(Config{AppID: testAppID}); err == nil {
		t.Fatal("prober without a secret accepted")
	}
}

func TestSecretFunc(t *testing.T) {
	s := upstreamtest.NewServer(t)
	echo := func(secret string) string { return `{"errcode":40125,"errmsg":"invalid appsecret ` + secret + `"}` }
	for name, build := range map[string]func(Config) (upstream.Provider, error){
		"classic": func(c Config) (upstream.Provider, error) { return NewClassic(c) },
		"stable":  func(c Config) (upstream.Provider, error) { return NewStable(c) },
	} {
		t.Run(name, func(t *testing.T) {
			upstreamtest.CheckSecretFunc(t, s, func(fn func() string) (upstream.Provider, error) {
				cfg := testConfig(t, s.URL, nil)
				cfg.Secret, cfg.SecretFunc = "", fn
				return build(cfg)
			}, echo)
		})
	}
}

func TestTransportErrors_token(t *testing.T) {
	cfg := testConfig(t, upstreamtest.ClosedURL(t), nil)
	c, _ := NewClassic(cfg)
	_, err := c.Fetch(context.Background(), upstream.FetchRequest{})
	upstreamtest.WantTransportError(t, err, "token", testSecret)
	s, _ := NewStable(cfg)
	_, err = s.Fetch(context.Background(), upstream.FetchRequest{})
	upstreamtest.WantTransportError(t, err, "stable_token", testSecret)
}

func TestPrinted(t *testing.T) {
	cfg := Config{AppID: testAppID, Secret: testSecret, SecretFunc: func() string { return testSecret }}
	c, _ := NewClassic(cfg)
	s, _ := NewStable(cfg)
	p, _ := NewProber(cfg)
	upstreamtest.CheckPrinted(t, testAppID, testSecret, cfg, c, s, p)
	tk, _ := NewTicket(TicketConfig{Kind: "jsapi"})
	upstreamtest.CheckPrinted(t, "jsapi", testSecret, tk)
}
