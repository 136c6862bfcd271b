package openplatform

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/platform"
)

const (
	appID  = "wxcomponent00000001"
	secret = "component-secret"
)

// stored is a verify ticket "in Redis" for the tests.
type stored struct {
	mu sync.Mutex
	t  platform.StoredVerifyTicket
	e  error
}

func (s *stored) read(context.Context) (platform.StoredVerifyTicket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.e != nil {
		return platform.StoredVerifyTicket{}, s.e
	}
	if s.t.Ticket == "" {
		return platform.StoredVerifyTicket{}, store.ErrNotFound
	}
	return s.t, nil
}

func (s *stored) set(ticket string, createTime int64, age time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Unix(createTime, 0).Add(age)
	s.t = platform.StoredVerifyTicket{Ticket: ticket, CreateTime: time.Unix(createTime, 0), ReceivedAt: time.Unix(createTime, 0), Now: now}
}

type env struct {
	fake *wechattest.Server
	clk  *testclock.FakeClock
	st   *stored
	p    *Component
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := testclock.NewFakeClock(time.Unix(1_700_000_000, 0))
	fake := wechattest.NewServer(wechattest.Config{Clock: clk, DailyQuota: -1})
	t.Cleanup(fake.Close)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("success")) }))
	t.Cleanup(sink.Close)
	err := fake.AddComponent(wechattest.Component{
		AppID: appID, Secret: secret, Token: "tok", EncodingAESKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
		CallbackURLs: []string{sink.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := &stored{}
	p, err := New(Config{ComponentAppID: appID, Secret: secret, BaseURL: fake.URL, VerifyTicket: st.read, Clock: clk, MinExpiresIn: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &env{fake: fake, clk: clk, st: st, p: p}
}

// push has the fake issue a verify ticket and stores it, as the callback
// would.
func (e *env) push(t *testing.T) wechattest.Push {
	t.Helper()
	p, err := e.fake.PushTicket(context.Background(), appID)
	if err != nil || p.Body != "success" {
		t.Fatalf("push: %+v, %v", p, err)
	}
	e.st.set(p.Ticket, p.CreateTime, 0)
	return p
}

func (e *env) ready(t *testing.T) upstream.Readiness {
	t.Helper()
	r, err := e.p.Ready(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestComponent_waitsForTicket(t *testing.T) {
	e := newEnv(t)
	if r := e.ready(t); r.Ready || r.WaitingFor != WaitingTicket {
		t.Fatalf("no ticket: %+v, want waiting for %s", r, WaitingTicket)
	}
	_, err := e.p.Fetch(context.Background(), upstream.FetchRequest{})
	if upstream.ClassOf(err) != upstream.ClassInput || e.fake.ComponentStats(appID).TokenFetches != 0 {
		t.Fatalf("Fetch without a ticket: %v (class %s), fetches %d; want ClassInput and no call", err, upstream.ClassOf(err), e.fake.ComponentStats(appID).TokenFetches)
	}
	e.st.e = &store.CorruptError{Key: "k", Detail: "wrong type"}
	if r := e.ready(t); r.Ready {
		t.Fatal("a corrupt key reads as ready")
	}
}

func TestComponent_fetchClassicRules(t *testing.T) {
	e := newEnv(t)
	e.push(t)
	if r := e.ready(t); !r.Ready {
		t.Fatalf("with a ticket: %+v", r)
	}
	t1, err := e.p.Fetch(context.Background(), upstream.FetchRequest{})
	if err != nil || t1.ExpiresIn != 7200*time.Second {
		t.Fatalf("fetch: %v, %v", t1, err)
	}
	t2, err := e.p.Fetch(context.Background(), upstream.FetchRequest{})
	if err != nil || t2.Value == t1.Value || e.fake.CheckToken(t2.Value).Code != 0 {
		t.Fatalf("second fetch: %v, %v", t2, err)
	}
	if st := e.fake.ComponentStats(appID); st.TokenFetches != 2 {
		t.Fatalf("stats %+v, want 2 fetches", st)
	}
}

// TestComponent_refusedTicket: 61006 (a ticket the fake never pushed) and
// 61005 (expired) are ClassInput, and the refused ticket is not used
// again: Ready waits until a newer one is stored.
func TestComponent_refusedTicket(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, e *env)
		code  int
	}{
		{"61006 unknown", func(_ *testing.T, e *env) { e.st.set("never-pushed", e.clk.Now().Unix(), 0) }, wechattest.CodeTicketInvalid},
		{"61005 expired", func(t *testing.T, e *env) { e.push(t); e.fake.ExpireVerifyTickets(appID) }, wechattest.CodeTicketExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.spoil(t, e)
			_, err := e.p.Fetch(context.Background(), upstream.FetchRequest{})
			var ue *upstream.Error
			if !errors.As(err, &ue) || ue.Code != tc.code || ue.Class != upstream.ClassInput {
				t.Fatalf("Fetch = %v, want errcode %d of class input", err, tc.code)
			}
			if r := e.ready(t); r.Ready || r.WaitingFor != WaitingNewTicket {
				t.Fatalf("after the refusal: %+v, want waiting for a newer ticket", r)
			}
			e.clk.Step(time.Second)
			e.push(t)
			if r := e.ready(t); !r.Ready {
				t.Fatalf("after a newer push: %+v", r)
			}
			if _, err := e.p.Fetch(context.Background(), upstream.FetchRequest{}); err != nil {
				t.Fatalf("fetch with the new ticket: %v", err)
			}
		})
	}
}

func TestComponent_tendStartsPushes(t *testing.T) {
	e := newEnv(t)
	tend := func(want int, why string) {
		t.Helper()
		if err := e.p.Tend(context.Background()); err != nil {
			t.Fatalf("%s: Tend: %v", why, err)
		}
		if got := e.fake.ComponentStats(appID).StartPush; got != want {
			t.Fatalf("%s: start_push calls = %d, want %d", why, got, want)
		}
	}
	tend(1, "no ticket at all: at once")
	tend(1, "again at once: rate-limited")
	e.st.set("t", e.clk.Now().Unix(), DefaultStartPushAfter)
	e.clk.Step(DefaultStartPushEvery)
	tend(1, "a ticket exactly StartPushAfter old")
	e.st.set("t", e.clk.Now().Unix(), DefaultStartPushAfter+time.Second)
	tend(2, "a ticket older than StartPushAfter, StartPushEvery later")
	e.clk.Step(DefaultStartPushEvery - time.Second)
	tend(2, "within StartPushEvery")
	e.st.e = errors.New("redis down")
	if err := e.p.Tend(context.Background()); err == nil {
		t.Fatal("Tend with Redis down: no error")
	}
}
