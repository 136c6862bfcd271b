package wecom

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/upstream/upstreamtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	corpID = "ww0000000000000001"
	secret = "C0rpS3cret-abcdefghijklmnopqrstuvwxyz01234"
)

var (
	_ upstream.Provider = (*Provider)(nil)
	_ upstream.Provider = (*Ticket)(nil)
	_ upstream.Prober   = (*Prober)(nil)
)

func testConfig(t *testing.T, base string) Config {
	return Config{CorpID: corpID, Secret: secret, BaseURL: base, HTTPClient: upstreamtest.Client(t)}
}

func TestConfig_validation(t *testing.T) {
	for field, cfg := range map[string]Config{
		"CorpID":       {Secret: secret},
		"Secret":       {CorpID: corpID},
		"BaseURL":      {CorpID: corpID, Secret: secret, BaseURL: "qyapi.weixin.qq.com"},
		"MinExpiresIn": {CorpID: corpID, Secret: secret, MinExpiresIn: 25 * time.Hour},
	} {
		p, err := New(cfg)
		var fe *upstream.FieldError
		if p != nil || !errors.As(err, &fe) || fe.Field != field || fe.Provider != "wecom" {
			t.Errorf("New(%s) = %v, %v; want a FieldError for %s", field, p, err, field)
		}
		if _, err := NewProber(cfg); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("NewProber: %v", err)
		}
		upstreamtest.NoLeak(t, err, secret)
	}
	p, err := New(Config{CorpID: corpID, SecretFunc: func() string { return secret }})
	if err != nil || p.Caller().BaseURL() != DefaultBaseURL || DefaultBaseURL != "https://qyapi.weixin.qq.com" {
		t.Fatalf("defaults: %v %v", p, err)
	}
}

func TestProvider_answers(t *testing.T) {
	s := upstreamtest.NewServer(t)
	p, err := New(testConfig(t, s.URL))
	if err != nil {
		t.Fatal(err)
	}
	if p.Repeat() != upstream.RepeatSameTrusted || p.String() != "wecom.Provider("+corpID+")" {
		t.Fatalf("provider %v repeat %s", p, p.Repeat())
	}
	cases := append([]upstreamtest.Case{
		// https://developer.work.weixin.qq.com/document/path/91039
		{Name: "documented example", Body: `{"errcode": 0, "errmsg": "ok", "access_token": "accesstoken000001", "expires_in": 7200}`,
			Want: 7200 * time.Second, Value: "accesstoken000001"},
		// A wrong corpsecret, as reported on developers.weixin.qq.com
		// (community): 40001 on gettoken is the secret, not a token.
		{Name: "wrong secret", Body: `{"errcode": 40001, "errmsg": "invalid credential, hint: [1636595021_160_5276110d0b3478bd61b7d5de8e47e0ee], from ip: 114.91.0.238, more info at https://open.work.weixin.qq.com/devtool/query?e=40001"}`,
			Code: 40001, Class: upstream.ClassConfig},
		{Name: "wrong corpid", Body: `{"errcode":40013,"errmsg":"invalid corpid"}`, Code: 40013, Class: upstream.ClassConfig},
		{Name: "another corp's secret", Body: `{"errcode":40091,"errmsg":"secret is invalid"}`, Code: 40091, Class: upstream.ClassConfig},
		{Name: "missing secret", Body: `{"errcode":41004,"errmsg":"corpsecret missing"}`, Code: 41004, Class: upstream.ClassConfig},
		{Name: "ip not allowed", Body: `{"errcode":60020,"errmsg":"not allow to access from your ip, from ip: 1.2.3.4"}`, Code: 60020, Class: upstream.ClassConfig},
		{Name: "app disabled", Body: `{"errcode":50003,"errmsg":"application is disabled"}`, Code: 50003, Class: upstream.ClassConfig},
		{Name: "busy", Body: `{"errcode":-1,"errmsg":"system busy"}`, Code: -1, Class: upstream.ClassRetry},
		{Name: "frequency limit", Body: `{"errcode":45009,"errmsg":"api freq out of limit"}`, Code: 45009, Class: upstream.ClassRetry},
		{Name: "concurrency limit", Body: `{"errcode":45033,"errmsg":"api concurrent out of limit"}`, Code: 45033, Class: upstream.ClassRetry},
		{Name: "echoes the secret", Body: `{"errcode":40001,"errmsg":"bad corpsecret ` + secret + `"}`, Code: 40001, Class: upstream.ClassConfig},
	}, upstreamtest.GarbageCases(`"errcode":0,"errmsg":"ok"`, "access_token", "expires_in")...)
	upstreamtest.Run(t, s, cases, func() (upstream.Token, error) {
		return p.Fetch(context.Background(), upstream.FetchRequest{Invalid: "ignored"})
	}, secret)
	r := s.Last(t)
	if r.Method != http.MethodGet || r.Path != "/cgi-bin/gettoken" || r.Query.Get("corpid") != corpID || r.Query.Get("corpsecret") != secret {
		t.Fatalf("request %+v", r)
	}
}

func TestProvider_secretFunc(t *testing.T) {
	s := upstreamtest.NewServer(t)
	upstreamtest.CheckSecretFunc(t, s, func(fn func() string) (upstream.Provider, error) {
		cfg := testConfig(t, s.URL)
		cfg.Secret, cfg.SecretFunc = "", fn
		return New(cfg)
	}, func(secret string) string { return `{"errcode":40001,"errmsg":"invalid credential ` + secret + `"}` })
}

func TestProvider_transportError(t *testing.T) {
	p, _ := New(testConfig(t, upstreamtest.ClosedURL(t)))
	_, err := p.Fetch(context.Background(), upstream.FetchRequest{})
	upstreamtest.WantTransportError(t, err, "gettoken", secret)
}

func TestPrinted(t *testing.T) {
	cfg := Config{CorpID: corpID, Secret: secret}
	p, _ := New(cfg)
	pr, _ := NewProber(cfg)
	upstreamtest.CheckPrinted(t, corpID, secret, cfg, p, pr)
}
