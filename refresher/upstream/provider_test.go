package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/upstream/upstreamtest"
)

// The generic providers satisfy the refresher's interfaces.
var (
	_ upstream.Provider = (*upstream.TokenProvider)(nil)
	_ upstream.Provider = (*upstream.Ticket)(nil)
	_ upstream.Prober   = (*upstream.TokenProber)(nil)
)

var ticketKinds = []upstream.TicketKind{
	{Kind: "jsapi", Call: upstream.Call{Op: "getticket", Path: "/ticket", Query: url.Values{"type": {"jsapi"}}, Shape: upstream.ErrcodeShape("ticket", shape.Classify)}},
	{Kind: "other", Call: upstream.Call{Op: "other", Path: "/other"}},
}

func newTicket(t *testing.T, base, kind string) (*upstream.Ticket, error) {
	return upstream.NewTicket("test", "https://example.com", upstream.TicketConfig{Kind: kind, BaseURL: base, HTTPClient: upstreamtest.Client(t)}, ticketKinds)
}

func TestTicket(t *testing.T) {
	s := upstreamtest.NewServer(t)
	tk, err := newTicket(t, s.URL, "jsapi")
	if err != nil {
		t.Fatal(err)
	}
	if tk.Repeat() != upstream.RepeatSameFirstSeen || tk.String() != "test.Ticket(jsapi)" || tk.Caller().BaseURL() != s.URL {
		t.Fatalf("ticket %v repeat %s", tk, tk.Repeat())
	}
	s.Answer(http.StatusOK, `{"errcode":0,"errmsg":"ok","ticket":"T1","expires_in":7200}`)
	tok, err := tk.Fetch(context.Background(), upstream.FetchRequest{ParentToken: "P", Invalid: "T0"})
	if r := s.Last(t); err != nil || tok.Value != "T1" || r.Query.Get("access_token") != "P" || r.Query.Get("type") != "jsapi" {
		t.Fatalf("Fetch = %v, %v; request %+v", tok, err, r)
	}
	s.Answer(http.StatusOK, `{"errcode":40001,"errmsg":"invalid credential"}`)
	_, err = tk.Fetch(context.Background(), upstream.FetchRequest{ParentToken: "P"})
	upstreamtest.WantError(t, err, 40001, 0, upstream.ClassTokenRejected)

	for _, kind := range []string{"", "nope", "JSAPI"} {
		_, err := newTicket(t, s.URL, kind)
		var fe *upstream.FieldError
		if !errors.As(err, &fe) || fe.Field != "Kind" || err.Error() != "test: config: Kind: want one of jsapi, other" {
			t.Errorf("kind %q: err = %v", kind, err)
		}
	}
	if other, err := newTicket(t, s.URL, "other"); err != nil || other.String() != "test.Ticket(other)" {
		t.Fatalf("other: %v %v", other, err)
	}
	if _, err := newTicket(t, "ftp://x", "jsapi"); err == nil {
		t.Fatal("bad base url accepted")
	}
	upstreamtest.CheckTokenCall(t, "getticket", func(base, token string) error {
		tk, err := newTicket(t, base, "jsapi")
		if err != nil {
			t.Fatal(err)
		}
		_, err = tk.Fetch(context.Background(), upstream.FetchRequest{ParentToken: token})
		return err
	}, func(token string) string { return `{"errcode":40001,"errmsg":"bad token ` + token + `"}` })
}

func TestTokenProber(t *testing.T) {
	probe := func(base, token string) error {
		c, err := upstream.NewCaller(upstream.CallerConfig{Provider: "test", BaseURL: base, HTTPClient: upstreamtest.Client(t)})
		if err != nil {
			t.Fatal(err)
		}
		p := upstream.NewTokenProber("test.Prober(a)", c, upstream.Call{Op: "probe", Path: "/ip", Shape: upstream.Shape{Code: "errcode", Message: "errmsg", Classify: shape.Classify}})
		if p.String() != "test.Prober(a)" || p.Caller() != c {
			t.Fatalf("prober %v", p)
		}
		return p.Probe(context.Background(), token)
	}
	s := upstreamtest.NewServer(t)
	for _, tc := range []struct {
		body  string
		ok    bool
		code  int
		class upstream.Class
	}{
		{`{"ip_list":["1.2.3.4"]}`, true, 0, 0},
		{`{"errcode":0,"errmsg":"ok","ip_list":[]}`, true, 0, 0},
		{`{"errcode":40001,"errmsg":"invalid credential"}`, false, 40001, upstream.ClassTokenRejected},
		{`{"errcode":40013}`, false, 40013, upstream.ClassConfig},
		{`<html>`, false, 0, upstream.ClassRetry},
		{`{"errcode":"x"}`, false, 0, upstream.ClassRetry},
	} {
		s.Answer(http.StatusOK, tc.body)
		err := probe(s.URL, "T")
		if tc.ok {
			if err != nil {
				t.Fatalf("%s: %v", tc.body, err)
			}
			continue
		}
		upstreamtest.WantError(t, err, tc.code, 0, tc.class)
	}
	upstreamtest.CheckTokenCall(t, "probe", probe, func(token string) string {
		return `{"errcode":40014,"errmsg":"invalid access_token ` + token + `"}`
	})
}

func TestTokenProvider(t *testing.T) {
	s := upstreamtest.NewServer(t)
	build := func(id, secret string) upstream.Call {
		return upstream.Call{Op: "token", Path: "/token", Query: url.Values{"id": {id}, "secret": {secret}}, Shape: shape}
	}
	cfg := func(fn func() string) upstream.CallerConfig {
		cr := creds()
		cr.SecretFunc = fn
		return upstream.CallerConfig{Provider: "test", BaseURL: s.URL, HTTPClient: upstreamtest.Client(t), Credentials: cr}
	}
	p, err := upstream.NewTokenProvider(cfg(nil), upstream.RepeatSameTrusted, build)
	if err != nil {
		t.Fatal(err)
	}
	if p.Repeat() != upstream.RepeatSameTrusted || p.String() != "test.Provider(app1)" || p.Caller() == nil {
		t.Fatalf("provider %v", p)
	}
	s.Answer(http.StatusOK, `{"access_token":"A","expires_in":7200}`)
	if tok, err := p.Fetch(context.Background(), upstream.FetchRequest{}); err != nil || tok.Value != "A" || s.Last(t).Query.Get("id") != "app1" {
		t.Fatalf("Fetch = %v, %v", tok, err)
	}
	noCreds := cfg(nil)
	noCreds.Credentials = nil
	if _, err := upstream.NewTokenProvider(noCreds, upstream.RepeatNew, build); err == nil {
		t.Fatal("no credentials accepted")
	}
	upstreamtest.CheckSecretFunc(t, s, func(fn func() string) (upstream.Provider, error) {
		return upstream.NewTokenProvider(cfg(fn), upstream.RepeatSameTrusted, build)
	}, func(secret string) string { return `{"errcode":40013,"errmsg":"secret ` + secret + ` is wrong"}` })
}
