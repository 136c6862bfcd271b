package sdk

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/silenceper/wechat/v2/util"

	"github.com/tokend/tokend/refresher/wechat/msgcrypt"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// TestMsgCrypt_silenceperReadsFakePushes: the verify-ticket push of
// tokend's fake upstream (wechattest, encrypted with package msgcrypt) is
// read by silenceper/wechat's own crypto: util.Signature gives the push's
// msg_signature and util.DecryptMsg decrypts its Encrypt to the message
// with the ticket; and what silenceper encrypts, msgcrypt decrypts. A
// symmetric bug in msgcrypt would pass its own round trip, not this.
func TestMsgCrypt_silenceperReadsFakePushes(t *testing.T) {
	const (
		appid  = "wxcomponent0000sdk"
		token  = "sdk-msg-token"
		aesKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	)
	var (
		mu   sync.Mutex
		reqs []*http.Request
		body []string
	)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs, body = append(reqs, r), append(body, string(b))
		mu.Unlock()
		_, _ = io.WriteString(w, "success")
	}))
	defer sink.Close()
	fake := wechattest.New(wechattest.Config{})
	defer fake.Close()
	err := fake.AddComponent(wechattest.Component{AppID: appid, Secret: "s", Token: token, EncodingAESKey: aesKey, CallbackURLs: []string{sink.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // three pushes: three paddings, three random prefixes
		p, err := fake.PushTicket(context.Background(), appid)
		if err != nil || p.Body != "success" {
			t.Fatalf("push: %+v, %v", p, err)
		}
		mu.Lock()
		q, b := reqs[len(reqs)-1].URL.Query(), body[len(body)-1]
		mu.Unlock()
		enc := between(b, "<Encrypt><![CDATA[", "]]></Encrypt>")
		if got := util.Signature(token, q.Get("timestamp"), q.Get("nonce"), enc); got != q.Get("msg_signature") {
			t.Fatalf("silenceper's signature %s != the push's msg_signature %s", got, q.Get("msg_signature"))
		}
		_, plain, err := util.DecryptMsg(appid, enc, aesKey)
		if err != nil {
			t.Fatalf("silenceper cannot decrypt the fake's push: %v", err)
		}
		if !strings.Contains(string(plain), "<ComponentVerifyTicket><![CDATA["+p.Ticket+"]]>") {
			t.Fatalf("silenceper decrypted %q, without the pushed ticket", plain)
		}
	}
	c, err := msgcrypt.New(msgcrypt.Config{Token: token, EncodingAESKey: aesKey, AppID: appid})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := util.EncryptMsg([]byte("0123456789abcdef"), []byte("<xml>from silenceper</xml>"), appid, aesKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Decrypt(string(enc)); err != nil || string(got) != "<xml>from silenceper</xml>" {
		t.Fatalf("msgcrypt reads silenceper's ciphertext as %q, %v", got, err)
	}
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}
