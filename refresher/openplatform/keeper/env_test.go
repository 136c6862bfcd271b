package keeper

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store/platform"
)

// appID is the component the keeper tests run; its secret is "s".
const appID = "wxcomponent00000001"

// env is the fake upstream on a fake clock and a Component fetching from
// it with the verify ticket last pushed.
type env struct {
	fake   *wechattest.Server
	clk    *testclock.FakeClock
	p      *openplatform.Component
	ticket platform.StoredVerifyTicket // set by componentToken only
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{clk: testclock.NewFakeClock(time.Unix(1_700_000_000, 0))}
	e.fake = wechattest.NewServer(wechattest.Config{Clock: e.clk, DailyQuota: -1})
	t.Cleanup(e.fake.Close)
	// Pushes are answered "success" by a sink: the tests store them.
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("success")) }))
	t.Cleanup(sink.Close)
	comp := wechattest.Component{AppID: appID, Secret: "s", Token: "tok", CallbackURLs: []string{sink.URL},
		EncodingAESKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}
	if err := e.fake.AddComponent(comp); err != nil {
		t.Fatal(err)
	}
	var err error
	e.p, err = openplatform.New(openplatform.Config{
		ComponentAppID: appID, Secret: comp.Secret, BaseURL: e.fake.URL, Clock: e.clk, MinExpiresIn: time.Second,
		VerifyTicket: func(context.Context) (platform.StoredVerifyTicket, error) { return e.ticket, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// componentToken has the fake push a verify ticket, then fetches a
// component token with it.
func (e *env) componentToken(t *testing.T) string {
	t.Helper()
	p, err := e.fake.PushTicket(context.Background(), appID)
	if err != nil || p.Body != "success" {
		t.Fatalf("push: %+v, %v", p, err)
	}
	at := time.Unix(p.CreateTime, 0)
	e.ticket = platform.StoredVerifyTicket{Ticket: p.Ticket, CreateTime: at, ReceivedAt: at, Now: at}
	tok, err := e.p.Fetch(context.Background(), upstream.FetchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}
