package dingtalk

import (
	"context"
	"errors"
	"net/http"
	"slices"
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
	appKey = "dingeqqpkv3xxxx"
	secret = "GT-lsu-taDAsTsxxxx-S3cret"
)

var (
	_ upstream.Provider = (*Provider)(nil)
	_ upstream.Provider = (*Ticket)(nil)
)

func testConfig(t *testing.T, base string) Config {
	return Config{AppKey: appKey, Secret: secret, BaseURL: base, HTTPClient: upstreamtest.Client(t)}
}

func TestConfig_validation(t *testing.T) {
	for field, cfg := range map[string]Config{
		"AppKey":  {Secret: secret},
		"Secret":  {AppKey: appKey},
		"BaseURL": {AppKey: appKey, Secret: secret, BaseURL: "https://user:pw@oapi.dingtalk.com"},
	} {
		p, err := New(cfg)
		var fe *upstream.FieldError
		if p != nil || !errors.As(err, &fe) || fe.Field != field || fe.Provider != "dingtalk" {
			t.Errorf("New(%s) = %v, %v", field, p, err)
		}
	}
	p, err := New(Config{AppKey: appKey, Secret: secret})
	if err != nil || p.Caller().BaseURL() != "https://oapi.dingtalk.com" || p.Repeat() != upstream.RepeatSameTrusted {
		t.Fatalf("defaults: %v %v", p, err)
	}
}

func TestProvider_answers(t *testing.T) {
	s := upstreamtest.NewServer(t)
	p, err := New(testConfig(t, s.URL))
	if err != nil {
		t.Fatal(err)
	}
	cases := append([]upstreamtest.Case{
		// https://developers.dingtalk.com/document/app/obtain-orgapp-token (example
		// values as reproduced at support.huaweicloud.com
		// bestpractice-sparkpack/zh-cn_topic_0000002490593908).
		{Name: "documented example", Body: `{"errcode":0,"access_token":"fw8ef8we8f76e6f7s8dxxxx","errmsg":"ok","expires_in":7200}`,
			Want: 7200 * time.Second, Value: "fw8ef8we8f76e6f7s8dxxxx"},
		// https://developer.aliyun.com/ask/201511
		{Name: "wrong appkey or secret", Body: `{"errcode":40089,"errmsg":"不合法的corpid或corpsecret"}`, Code: 40089, Class: upstream.ClassConfig},
		{Name: "wrong appkey or secret, as gettoken answers", Body: `{"errcode":40096,"errmsg":"不合法的appKey或appSecret"}`, Code: 40096, Class: upstream.ClassConfig},
		{Name: "wrong secret", Body: `{"errcode":40001,"errmsg":"获取access_token时Secret错误，或者access_token无效"}`, Code: 40001, Class: upstream.ClassConfig},
		// https://cloud.tencent.com/developer/article/1182275
		{Name: "ip not in whitelist", Body: `{"errcode":60020,"errmsg":"访问ip不在白名单之中"}`, Code: 60020, Class: upstream.ClassConfig},
		{Name: "busy", Body: `{"errcode":-1,"errmsg":"系统繁忙"}`, Code: -1, Class: upstream.ClassRetry},
		{Name: "auth error with sub code", Body: `{"errcode":88,"sub_code":"60011","sub_msg":"没有调用该接口的权限","errmsg":"ding talk error[subcode=60011,submsg=没有调用该接口的权限]","request_id":"5imjny7u9xwa"}`,
			Code: 88, Class: upstream.ClassRetry},
		{Name: "echoes the secret", Body: `{"errcode":40089,"errmsg":"bad appsecret=` + secret + `"}`, Code: 40089, Class: upstream.ClassConfig},
	}, upstreamtest.GarbageCases(`"errcode":0,"errmsg":"ok"`, "access_token", "expires_in")...)
	upstreamtest.Run(t, s, cases, func() (upstream.Token, error) {
		return p.Fetch(context.Background(), upstream.FetchRequest{})
	}, secret)
	r := s.Last(t)
	if r.Method != http.MethodGet || r.Path != "/gettoken" || r.Query.Get("appkey") != appKey || r.Query.Get("appsecret") != secret {
		t.Fatalf("request %+v", r)
	}
}

func TestProvider_secretFunc(t *testing.T) {
	s := upstreamtest.NewServer(t)
	upstreamtest.CheckSecretFunc(t, s, func(fn func() string) (upstream.Provider, error) {
		cfg := testConfig(t, s.URL)
		cfg.Secret, cfg.SecretFunc = "", fn
		return New(cfg)
	}, func(secret string) string {
		return `{"errcode":40089,"errmsg":"不合法的corpsecret ` + secret + `"}`
	})
}

func TestProvider_transportError(t *testing.T) {
	p, _ := New(testConfig(t, upstreamtest.ClosedURL(t)))
	_, err := p.Fetch(context.Background(), upstream.FetchRequest{})
	upstreamtest.WantTransportError(t, err, "gettoken", secret)
}

func newTicket(t *testing.T, base string) *Ticket {
	t.Helper()
	tk, err := NewTicket(TicketConfig{Kind: "jsapi", BaseURL: base, HTTPClient: upstreamtest.Client(t)})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestTicket(t *testing.T) {
	if !slices.Equal(TicketKinds, []string{"jsapi"}) {
		t.Fatalf("TicketKinds = %v", TicketKinds)
	}
	for _, kind := range []string{"", "agent_config", "wx_card"} {
		if _, err := NewTicket(TicketConfig{Kind: kind}); err == nil {
			t.Errorf("kind %q accepted", kind)
		}
	}
	s := upstreamtest.NewServer(t)
	tk := newTicket(t, s.URL)
	if tk.Repeat() != upstream.RepeatSameFirstSeen || tk.String() != "dingtalk.Ticket(jsapi)" {
		t.Fatalf("ticket %v", tk)
	}
	const parent = "PARENT-TOKEN"
	cases := append([]upstreamtest.Case{
		// Answer fields (errcode, errmsg, ticket, expires_in) as documented for
		// GET /get_jsapi_ticket, e.g. https://apifox.com/apidoc/shared/f9b55f1e-e990-49ad-ad32-4243d72b3245/api-136641488;
		// the value is made up.
		{Name: "success", Body: `{"errcode":0,"ticket":"zHoQdGJuH0ZDebwo7sLqLzHGUueLmkWCC4RycYgkuvDu3eoROgN5qhwnQLgfzwEP","errmsg":"ok","expires_in":7200}`,
			Want: 7200 * time.Second},
		{Name: "invalid token", Body: `{"errcode":40014,"errmsg":"不合法的access_token"}`, Code: 40014, Class: upstream.ClassTokenRejected},
		{Name: "invalid token 40001", Body: `{"errcode":40001,"errmsg":"获取access_token时Secret错误，或者access_token无效"}`, Code: 40001, Class: upstream.ClassTokenRejected},
		{Name: "token timed out", Body: `{"errcode":42001,"errmsg":"access_token超时"}`, Code: 42001, Class: upstream.ClassTokenRejected},
		{Name: "missing token", Body: `{"errcode":41001,"errmsg":"缺少access_token参数"}`, Code: 41001, Class: upstream.ClassTokenRejected},
		// The IP check hits the ticket call when the token call passed
		// (https://cloud.tencent.com/developer/article/1182275).
		{Name: "ip not in whitelist", Body: `{"errcode":60020,"errmsg":"访问ip不在白名单之中"}`, Code: 60020, Class: upstream.ClassConfig},
	}, upstreamtest.GarbageCases(`"errcode":0,"errmsg":"ok"`, "ticket", "expires_in")...)
	upstreamtest.Run(t, s, cases, func() (upstream.Token, error) {
		return tk.Fetch(context.Background(), upstream.FetchRequest{ParentToken: parent})
	}, parent)
	if r := s.Last(t); r.Path != "/get_jsapi_ticket" || r.Query.Get("access_token") != parent {
		t.Fatalf("request %+v", r)
	}
	upstreamtest.CheckTokenCall(t, "get_jsapi_ticket", func(base, token string) error {
		_, err := newTicket(t, base).Fetch(context.Background(), upstream.FetchRequest{ParentToken: token})
		return err
	}, func(token string) string {
		return `{"errcode":40014,"errmsg":"不合法的access_token ` + token + `"}`
	})
}

func TestPrinted(t *testing.T) {
	cfg := Config{AppKey: appKey, Secret: secret}
	p, _ := New(cfg)
	upstreamtest.CheckPrinted(t, appKey, secret, cfg, p)
}
