package wechattest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"
)

func TestFault_answers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    Fault
		status   int
		ct       string
		code     int
		contains string
	}{
		{"errcode", Fault{Errcode: -1}, 200, jsonContentType, -1, "system error rid: "},
		{"errcode custom message", Fault{Errcode: 40164, Errmsg: "invalid ip 10.0.0.1"}, 200, jsonContentType, 40164, "invalid ip 10.0.0.1 rid: "},
		{"unknown errcode", Fault{Errcode: 12345}, 200, jsonContentType, 12345, "error rid: "},
		{"5xx", Fault{HTTPStatus: 502}, 502, "text/html; charset=utf-8", 0, "502 Bad Gateway"},
		{"html body", Fault{Body: "<html>busy</html>"}, 200, "text/html; charset=utf-8", 0, "<html>busy</html>"},
		{"malformed json", Fault{Body: `{"access_token":`}, 200, jsonContentType, 0, `{"access_token":`},
		{"content type", Fault{Body: "x", ContentType: "text/plain", HTTPStatus: 503}, 503, "text/plain", 0, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, Config{})
			f.SetFault(tc.fault)
			for _, a := range []answer{f.classicAs(appID, secret), f.stableAs(appID, secret, false)} {
				if a.status != tc.status || a.contentType != tc.ct || !strings.Contains(a.raw, tc.contains) {
					t.Fatalf("got %d %q %q", a.status, a.contentType, a.raw)
				}
				if tc.code != 0 {
					wantCode(t, a, tc.code)
				}
			}
			if au := f.Audit(); au.Faults != 2 || au.TotalFetches != 0 {
				t.Errorf("audit = %+v", au)
			}
			f.ClearFault()
			f.classic()
		})
	}
}

func TestFault_remaining(t *testing.T) {
	f := newFake(t, Config{})
	f.SetFault(Fault{Errcode: -1, Remaining: 2})
	wantCode(t, f.classicAs(appID, secret), -1)
	wantCode(t, f.stableAs(appID, secret, false), -1)
	f.classic()
	f.stable(false)
}

func TestFault_endpoint(t *testing.T) {
	f := newFake(t, Config{})
	f.SetFault(Fault{Errcode: 45011, Endpoint: "stable_token"})
	f.classic()
	wantCode(t, f.stableAs(appID, secret, false), 45011)

	f.SetFault(Fault{Errcode: -1}) // "" = the token endpoints only
	tok := f.Rotate(appID)
	if got := f.call(tok); got != 0 {
		t.Fatalf("protected call under a token fault: %d", got)
	}
	f.SetFault(Fault{Errcode: 40001, Endpoint: "getcallbackip"})
	if got := f.call(tok); got != 40001 {
		t.Fatalf("faulted protected call: %d", got)
	}
	f.classic()
}

func TestFault_probability(t *testing.T) {
	f := newFake(t, Config{DailyQuota: -1, Seed: 7})
	f.SetFault(Fault{Errcode: -1, Probability: 0.3})
	failed := 0
	const n = 400
	for range n {
		if f.classicAs(appID, secret).ErrCode == -1 {
			failed++
		}
	}
	// Binomial(400, 0.3): mean 120, sd ~9.2; the seed makes it reproducible.
	if failed < 80 || failed > 160 {
		t.Fatalf("%d of %d failed, want about 120", failed, n)
	}
	if au := f.Audit(); au.Faults != failed || au.TotalFetches != n-failed {
		t.Errorf("audit = %+v", au)
	}
}

func TestFault_delayThenNormalAnswer(t *testing.T) {
	f := newFake(t, Config{})
	f.SetFault(Fault{Delay: time.Millisecond, Endpoint: "token"})
	f.classic()
}

func TestFault_delayTripsClientTimeout(t *testing.T) {
	f := newFake(t, Config{})
	f.SetFault(Fault{Delay: time.Hour, Endpoint: "token"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	q := url.Values{"grant_type": {"client_credential"}, "appid": {appID}, "secret": {secret}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.URL+"/cgi-bin/token?"+q.Encode(), nil)
	resp, err := f.hc.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("want a timeout")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

// Close ends a delay whose client is still waiting.
func TestFault_closeEndsDelay(t *testing.T) {
	f := newFake(t, Config{})
	f.SetFault(Fault{Delay: time.Hour, Errcode: -1})
	errc := make(chan error, 1)
	go func() {
		q := url.Values{"grant_type": {"client_credential"}, "appid": {appID}, "secret": {secret}}
		resp, err := f.hc.Get(f.URL + "/cgi-bin/token?" + q.Encode())
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	wait.For(t, 5*time.Second, "the request to arrive", func() bool { return f.Audit().Faults > 0 })
	f.Close()
	if err := <-errc; err == nil {
		t.Fatal("want the abandoned request to fail")
	}
}

func TestFault_otherEndpoints(t *testing.T) {
	f := newFake(t, Config{})
	tok := f.classic().AccessToken
	for _, ep := range []string{"getticket", "clear_quota"} {
		f.SetFault(Fault{Errcode: -1, Endpoint: ep})
		var a answer
		if ep == "getticket" {
			a = f.get("/cgi-bin/ticket/getticket", url.Values{"access_token": {tok}, "type": {"jsapi"}})
		} else {
			a = f.post("/cgi-bin/clear_quota/v2", map[string]string{"appid": appID, "appsecret": secret})
		}
		wantCode(t, a, -1)
	}
}
