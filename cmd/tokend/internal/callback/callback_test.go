package callback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	testclock "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/refresher/wechat/msgcrypt"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/platform"
)

const (
	testKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	testToken = "msgtoken"
	testAppID = "wxcomponent0000001"
)

type env struct {
	srv   *httptest.Server
	st    *platform.Store
	mr    *miniredis.Miniredis
	crypt *msgcrypt.Crypt
	h     *Handler
}

func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with edit applied to the handler's Config.
func newEnvWith(t *testing.T, edit func(*Config)) *env {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	base, err := store.New(store.Config{Client: rdb})
	if err != nil {
		t.Fatal(err)
	}
	crypt := mustCrypt(t)
	st := platform.New(base)
	cfg := Config{Store: st, Components: []Component{{ID: "op", AppID: testAppID, Crypt: crypt}}}
	if edit != nil {
		edit(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{srv: srv, st: st, mr: mr, crypt: crypt, h: h}
}

func ticketXML(appid, ticket string, createTime int64) string {
	return fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%d</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[%s]]></ComponentVerifyTicket></xml>",
		appid, createTime, ticket)
}

// post sends msg sealed by c to path, after mutate may change the query
// and the body; it returns the status and body of the answer.
func (e *env) post(t *testing.T, c *msgcrypt.Crypt, path, msg string, mutate func(q url.Values, body *string)) (int, string) {
	t.Helper()
	enc, sig, err := c.Seal([]byte(msg), "1700000000", "42")
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"timestamp": {"1700000000"}, "nonce": {"42"}, "msg_signature": {sig}, "encrypt_type": {"aes"}}
	body := "<xml><AppId><![CDATA[" + testAppID + "]]></AppId><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	if mutate != nil {
		mutate(q, &body)
	}
	resp, err := http.Post(e.srv.URL+path+"?"+q.Encode(), "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) stored(t *testing.T) string {
	t.Helper()
	v, err := e.st.ReadVerifyTicket(context.Background(), "op")
	if errors.Is(err, store.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return v.Ticket
}

func TestCallback_storesNewestTicket(t *testing.T) {
	e := newEnv(t)
	for _, step := range []struct {
		ticket string
		at     int64
		want   string
	}{
		{"t1", 1_700_000_000, "t1"},
		{"t1", 1_700_000_000, "t1"}, // repeated
		{"t0", 1_699_999_400, "t1"}, // older, late
		{"t2", 1_700_000_600, "t2"},
	} {
		code, body := e.post(t, e.crypt, "/callback/components/op", ticketXML(testAppID, step.ticket, step.at), nil)
		if code != http.StatusOK || body != "success" {
			t.Fatalf("push %s: %d %q", step.ticket, code, body)
		}
		if got := e.stored(t); got != step.want {
			t.Fatalf("after push %s at %d: stored %q, want %q", step.ticket, step.at, got, step.want)
		}
	}
}

func TestCallback_refusesBadPushes(t *testing.T) {
	other, err := msgcrypt.New(msgcrypt.Config{Token: testToken, EncodingAESKey: testKey, AppID: "wxsomeoneelse0001"})
	if err != nil {
		t.Fatal(err)
	}
	good := ticketXML(testAppID, "t1", 1_700_000_000)
	for _, tc := range []struct {
		name   string
		c      *msgcrypt.Crypt
		path   string
		msg    string
		mutate func(q url.Values, body *string)
		want   int
	}{
		{"unknown component", nil, "/callback/components/nope", good, nil, http.StatusNotFound},
		{"bad signature", nil, "", good, func(q url.Values, _ *string) { q.Set("msg_signature", strings.Repeat("0", 40)) }, http.StatusForbidden},
		{"other nonce", nil, "", good, func(q url.Values, _ *string) { q.Set("nonce", "43") }, http.StatusForbidden},
		{"no encrypt_type", nil, "", good, func(q url.Values, _ *string) { q.Del("encrypt_type") }, http.StatusBadRequest},
		{"wrong appid in the ciphertext", other, "", good, nil, http.StatusForbidden},
		{"wrong appid in the message", nil, "", ticketXML("wxsomeoneelse0001", "t1", 1_700_000_000), nil, http.StatusForbidden},
		{"truncated base64", nil, "", good, func(q url.Values, body *string) {
			enc := between(*body, "<Encrypt><![CDATA[", "]]>")
			short := enc[:len(enc)-5]
			*body = strings.Replace(*body, enc, short, 1)
			q.Set("msg_signature", mustCrypt(t).Signature("1700000000", "42", short))
		}, http.StatusBadRequest},
		{"not XML", nil, "", good, func(_ url.Values, body *string) { *body = "hello" }, http.StatusBadRequest},
		{"oversized body", nil, "", good, func(_ url.Values, body *string) { *body += strings.Repeat(" ", maxBody) }, http.StatusRequestEntityTooLarge},
		{"no ticket", nil, "", "<xml><AppId>" + testAppID + "</AppId><CreateTime>1</CreateTime><InfoType>component_verify_ticket</InfoType></xml>", nil, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c, path := tc.c, tc.path
			if c == nil {
				c = e.crypt
			}
			if path == "" {
				path = "/callback/components/op"
			}
			code, body := e.post(t, c, path, tc.msg, tc.mutate)
			if code != tc.want || body == "success" {
				t.Fatalf("answer %d %q, want %d", code, body, tc.want)
			}
			if got := e.stored(t); got != "" {
				t.Fatalf("stored %q after a refused push", got)
			}
		})
	}
}

func mustCrypt(t *testing.T) *msgcrypt.Crypt {
	t.Helper()
	c, err := msgcrypt.New(msgcrypt.Config{Token: testToken, EncodingAESKey: testKey, AppID: testAppID})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}

func TestCallback_storeDown(t *testing.T) {
	e := newEnv(t)
	e.mr.SetError("LOADING")
	code, body := e.post(t, e.crypt, "/callback/components/op", ticketXML(testAppID, "t1", 1_700_000_000), nil)
	if code != http.StatusServiceUnavailable || body == "success" {
		t.Fatalf("Redis down: %d %q, want 503", code, body)
	}
}

func TestCallback_authorizationEvent(t *testing.T) {
	e := newEnv(t)
	msg := "<xml><AppId>" + testAppID + "</AppId><CreateTime>1700000000</CreateTime><InfoType>unauthorized</InfoType><AuthorizerAppid>wxauthorizer</AuthorizerAppid></xml>"
	if code, body := e.post(t, e.crypt, "/callback/components/op", msg, nil); code != http.StatusOK || body != "success" {
		t.Fatalf("event: %d %q", code, body)
	}
}

// TestCallback_fromFake: the fake upstream's pushes (wechattest) are
// accepted, and a replayed older push leaves the newer ticket.
func TestCallback_fromFake(t *testing.T) {
	e := newEnv(t)
	clk := testclock.NewFakePassiveClock(time.Unix(1_700_000_000, 0))
	fake := wechattest.New(wechattest.Config{Clock: clk})
	defer fake.Close()
	err := fake.AddComponent(wechattest.Component{
		AppID: testAppID, Secret: "s", Token: testToken, EncodingAESKey: testKey,
		CallbackURLs: []string{e.srv.URL + "/callback/components/op"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := fake.PushTicket(context.Background(), testAppID)
	if err != nil || p1.Body != "success" {
		t.Fatalf("push 1: %+v, %v", p1, err)
	}
	clk.SetTime(clk.Now().Add(10 * time.Minute))
	p2, _ := fake.PushTicket(context.Background(), testAppID)
	if got := e.stored(t); got != p2.Ticket {
		t.Fatalf("stored %q, want the second push's ticket", got)
	}
	r, err := fake.ReplayPush(context.Background(), testAppID, 2)
	if err != nil || r.Body != "success" {
		t.Fatalf("replay: %+v, %v", r, err)
	}
	if got := e.stored(t); got != p2.Ticket {
		t.Fatalf("after replaying push 1, stored %q, want the second push's ticket", got)
	}
}
