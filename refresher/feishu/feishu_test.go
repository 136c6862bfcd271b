package feishu

import (
	"context"
	"encoding/json"
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

// The documented example request, https://open.larkoffice.com/document/ukTMukTMukTM/ukDNz4SO0MjL5QzM/auth-v3/auth/tenant_access_token_internal
const (
	appID  = "cli_slkdjalasdkjasd"
	secret = "dskLLdkasdjlasdKK"
)

var _ upstream.Provider = (*Provider)(nil)

func testConfig(t *testing.T, base string) Config {
	return Config{AppID: appID, Secret: secret, BaseURL: base, HTTPClient: upstreamtest.Client(t)}
}

func TestConfig_validation(t *testing.T) {
	for field, cfg := range map[string]Config{
		"AppID":   {Secret: secret},
		"Secret":  {AppID: appID},
		"BaseURL": {AppID: appID, Secret: secret, BaseURL: "https://open.feishu.cn?x=1"},
	} {
		p, err := New(cfg)
		var fe *upstream.FieldError
		if p != nil || !errors.As(err, &fe) || fe.Field != field || fe.Provider != "feishu" {
			t.Errorf("New(%s) = %v, %v", field, p, err)
		}
	}
	p, err := New(Config{AppID: appID, Secret: secret})
	if err != nil || p.Caller().BaseURL() != "https://open.feishu.cn" || p.Repeat() != upstream.RepeatSameTrusted {
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
		// The documented example answer (same page as the request).
		{Name: "documented example", Body: `{"code":0,"msg":"ok","tenant_access_token":"t-caecc734c2e3328a62489fe0648c4b98779515d3","expire":7200}`,
			Want: 7200 * time.Second, Value: "t-caecc734c2e3328a62489fe0648c4b98779515d3"},
		{Name: "remaining life", Body: `{"code":0,"expire":3138,"msg":"ok","tenant_access_token":"t-g10454d124SWGZH75RUVI73K5TDEOOC64FVMWRQ4"}`, Want: 3138 * time.Second},
		// Wrong secret: Feishu answers HTTP 400 with code 10014.
		{Name: "wrong secret", Status: http.StatusBadRequest, Body: `{"code":10014,"msg":"app secret invalid"}`,
			Code: 10014, HTTPStatus: http.StatusBadRequest, Class: upstream.ClassConfig},
		{Name: "wrong secret, 200", Body: `{"code":10014,"msg":"app secret invalid"}`, Code: 10014, Class: upstream.ClassConfig},
		{Name: "wrong app id", Status: http.StatusBadRequest, Body: `{"code":10003,"msg":"invalid param"}`,
			Code: 10003, HTTPStatus: http.StatusBadRequest, Class: upstream.ClassConfig},
		{Name: "rate limited", Status: http.StatusBadRequest, Body: `{"code":99991400,"msg":"request trigger frequency limit"}`,
			Code: 99991400, HTTPStatus: http.StatusBadRequest, Class: upstream.ClassRetry},
		{Name: "400 html", Status: http.StatusBadRequest, Body: `<html>bad request</html>`, HTTPStatus: http.StatusBadRequest, Class: upstream.ClassRetry},
		{Name: "echoes the secret", Body: `{"code":10014,"msg":"app secret ` + secret + ` invalid"}`, Code: 10014, Class: upstream.ClassConfig},
		{Name: "errcode envelope is not feishu's", Body: `{"errcode":0,"access_token":"x","expires_in":7200}`, Class: upstream.ClassRetry},
	}, upstreamtest.GarbageCases(`"code":0,"msg":"ok"`, "tenant_access_token", "expire")...)
	upstreamtest.Run(t, s, cases, func() (upstream.Token, error) {
		return p.Fetch(context.Background(), upstream.FetchRequest{Invalid: "ignored"})
	}, secret)
	r := s.Last(t)
	var body map[string]string
	if r.Method != http.MethodPost || r.Path != "/open-apis/auth/v3/tenant_access_token/internal" ||
		r.Header.Get("Content-Type") != "application/json; charset=utf-8" || json.Unmarshal(r.Body, &body) != nil ||
		len(body) != 2 || body["app_id"] != appID || body["app_secret"] != secret || len(r.Query) != 0 {
		t.Fatalf("request %+v", r)
	}
}

func TestProvider_secretFunc(t *testing.T) {
	s := upstreamtest.NewServer(t)
	upstreamtest.CheckSecretFunc(t, s, func(fn func() string) (upstream.Provider, error) {
		cfg := testConfig(t, s.URL)
		cfg.Secret, cfg.SecretFunc = "", fn
		return New(cfg)
	}, func(secret string) string { return `{"code":10014,"msg":"app secret invalid: ` + secret + `"}` })
}

func TestProvider_transportError(t *testing.T) {
	p, _ := New(testConfig(t, upstreamtest.ClosedURL(t)))
	_, err := p.Fetch(context.Background(), upstream.FetchRequest{})
	upstreamtest.WantTransportError(t, err, "tenant_access_token", secret)
}

func TestPrinted(t *testing.T) {
	cfg := Config{AppID: appID, Secret: secret}
	p, _ := New(cfg)
	upstreamtest.CheckPrinted(t, appID, secret, cfg, p)
}
