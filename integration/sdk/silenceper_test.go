package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"

	"github.com/silenceper/wechat/v2"
	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/credential"
)

// egressKey carries an instance's egress URL in the context of its SDK
// calls.
type egressKey struct{}

// viaEgress is silenceper's HTTP transport: the SDK's URLs are fixed
// (https://api.weixin.qq.com/...), and its one HTTP client is global
// (wechat.SetHTTPClient), so each call goes to the egress its context
// names, scheme and host replaced, path and query kept.
type viaEgress struct{}

func (viaEgress) RoundTrip(req *http.Request) (*http.Response, error) {
	base, ok := req.Context().Value(egressKey{}).(string)
	if !ok {
		return nil, fmt.Errorf("sdk: no egress for %s", req.URL.Redacted())
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = u.Scheme, u.Host, ""
	return http.DefaultTransport.RoundTrip(out)
}

var silenceperOnce sync.Once

// useEgressTransport installs viaEgress as silenceper's HTTP client, once.
func useEgressTransport() {
	silenceperOnce.Do(func() {
		wechat.NewWechat().SetHTTPClient(&http.Client{Transport: viaEgress{}, Timeout: 10 * time.Second})
	})
}

// instanceResult counts what one SDK instance saw.
type instanceResult struct {
	Calls, Failed             int
	TicketCalls, TicketFailed int
	Codes                     map[string]int
}

// runSilenceper runs one github.com/silenceper/wechat/v2 instance until
// deadline: its DefaultAccessToken and DefaultJsTicket, each with an
// in-memory cache of its own (silenceper keeps a token for expires_in -
// 1500 s), and an API call (getcallbackip) with the token it hands out
// every pause; every fifth round it also asks for the JS-SDK ticket.
func runSilenceper(ctx context.Context, eg *egress, appid, secret string, deadline time.Time, pause time.Duration) instanceResult {
	useEgressTransport()
	ctx = context.WithValue(ctx, egressKey{}, eg.URL)
	tokens := credential.NewDefaultAccessToken(appid, secret, credential.CacheKeyOfficialAccountPrefix, cache.NewMemory())
	tickets := credential.NewDefaultJsTicket(appid, credential.CacheKeyOfficialAccountPrefix, cache.NewMemory())
	res := instanceResult{Codes: map[string]int{}}
	for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		res.Calls++
		tok, err := tokens.(credential.AccessTokenContextHandle).GetAccessTokenContext(ctx)
		if err == nil {
			err = callbackIP(ctx, eg.URL, tok)
		}
		if err != nil {
			res.Failed++
			res.Codes[codeOf(err)]++
		}
		if i%5 == 0 {
			res.TicketCalls++
			if _, err := tickets.(credential.JsTicketContextHandle).GetTicketContext(ctx, tok); err != nil {
				res.TicketFailed++
				res.Codes["ticket:"+codeOf(err)]++
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
	return res
}

var errcodeIn = regexp.MustCompile(`errcode\s*[=:]?\s*(-?\d+)`)

// codeOf names an SDK error by its errcode, or "error": SDK errors may
// quote the URL, and with it the token.
func codeOf(err error) string {
	if m := errcodeIn.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return "error"
}

var callClient = &http.Client{Timeout: 10 * time.Second}

// callbackIP makes the protected call WeChat's docs suggest for checking a
// token, GET /cgi-bin/getcallbackip, through the egress; an errcode is an
// error naming it (never the token).
func callbackIP(ctx context.Context, egressURL, tok string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, egressURL+"/cgi-bin/getcallbackip?access_token="+url.QueryEscape(tok), nil)
	resp, err := callClient.Do(req)
	if err != nil {
		return fmt.Errorf("getcallbackip: %w", err)
	}
	defer resp.Body.Close()
	var ans struct {
		Errcode int `json:"errcode"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err := json.Unmarshal(body, &ans); err != nil || ans.Errcode != 0 {
		return fmt.Errorf("getcallbackip: errcode %d", ans.Errcode)
	}
	return nil
}
