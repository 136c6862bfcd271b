package wechattest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
	"go.uber.org/goleak"
	testclock "k8s.io/utils/clock/testing"
)

// jsonContentType is what WeChat sends with every JSON answer.
const jsonContentType = envelope.JSONContentType

// Feishu's codes.
const (
	feishuInvalidParam = envelope.FeishuInvalidParam
	feishuBadSecret    = envelope.FeishuBadSecret
	feishuMissingToken = envelope.FeishuMissingToken
	feishuInvalidToken = envelope.FeishuInvalidToken
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	appID  = "wx0000000000000001"
	secret = "s3cr3t-0000000000000000000000001"
)

// start is 20:00 in UTC+8, four hours before a WeChat day starts.
var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var ridRE = regexp.MustCompile(` rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

// answer is the union of the fake's JSON answers.
type answer struct {
	AccessToken string   `json:"access_token"`
	ExpiresIn   int      `json:"expires_in"`
	ErrCode     int      `json:"errcode"`
	ErrMsg      string   `json:"errmsg"`
	Ticket      string   `json:"ticket"`
	IPList      []string `json:"ip_list"`
	// Feishu's envelope.
	Code              int    `json:"code"`
	Msg               string `json:"msg"`
	TenantAccessToken string `json:"tenant_access_token"`
	Expire            int    `json:"expire"`

	status      int
	contentType string
	raw         string
	jsonErr     error
}

type fake struct {
	*Server
	t   *testing.T
	clk *testclock.FakeClock
	hc  *http.Client
}

func newFake(t *testing.T, cfg Config) *fake {
	t.Helper()
	clk := testclock.NewFakeClock(start)
	cfg.Clock = clk
	if cfg.Seed == 0 {
		cfg.Seed = 42
	}
	s := NewServer(cfg)
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		s.Close()
		hc.CloseIdleConnections()
	})
	s.AddApp(appID, secret)
	return &fake{Server: s, t: t, clk: clk, hc: hc}
}

func (f *fake) do(req *http.Request) answer {
	f.t.Helper()
	resp, err := f.hc.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), raw: string(body)}
	if strings.HasPrefix(a.contentType, "application/json") {
		a.jsonErr = json.Unmarshal(body, &a)
	}
	return a
}

func (f *fake) get(path string, q url.Values) answer {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.URL+path+"?"+q.Encode(), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.do(req)
}

func (f *fake) post(path string, body any) answer {
	f.t.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			f.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, f.URL+path, bytes.NewReader(b))
	if err != nil {
		f.t.Fatal(err)
	}
	return f.do(req)
}

func (f *fake) classicAs(appid, sec string) answer {
	f.t.Helper()
	return f.get("/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {appid}, "secret": {sec}})
}

func (f *fake) classic() answer {
	f.t.Helper()
	return f.mustToken(f.classicAs(appID, secret))
}

func (f *fake) stableAs(appid, sec string, force bool) answer {
	f.t.Helper()
	return f.post("/cgi-bin/stable_token", map[string]any{
		"grant_type": "client_credential", "appid": appid, "secret": sec, "force_refresh": force,
	})
}

func (f *fake) stable(force bool) answer {
	f.t.Helper()
	return f.mustToken(f.stableAs(appID, secret, force))
}

func (f *fake) mustToken(a answer) answer {
	f.t.Helper()
	if a.ErrCode != 0 || a.AccessToken == "" {
		f.t.Fatalf("want a token, got %+v", a)
	}
	return a
}

// call makes the protected call with tok and returns its errcode.
func (f *fake) call(tok string) int {
	f.t.Helper()
	a := f.get("/cgi-bin/getcallbackip", url.Values{"access_token": {tok}})
	if a.ErrCode == 0 && len(a.IPList) == 0 {
		f.t.Fatalf("valid call without ip_list: %+v", a)
	}
	return a.ErrCode
}

func wantCode(t *testing.T, a answer, code int) {
	t.Helper()
	if a.ErrCode != code {
		t.Fatalf("errcode = %d (%q), want %d", a.ErrCode, a.ErrMsg, code)
	}
	if code == 0 {
		return
	}
	if a.jsonErr != nil {
		t.Fatalf("error answer is not json: %v", a.jsonErr)
	}
	if a.status != http.StatusOK || a.contentType != jsonContentType {
		t.Errorf("error envelope: status %d, content type %q", a.status, a.contentType)
	}
	if !ridRE.MatchString(a.ErrMsg) {
		t.Errorf("errmsg %q has no rid", a.ErrMsg)
	}
	if a.AccessToken != "" {
		t.Errorf("error answer carries a token")
	}
}
