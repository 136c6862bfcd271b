package wechattest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/passthrough"
)

// TestPassthrough: the pass-through APIs answer a valid token, refuse a
// superseded (40001), expired (42001) or unknown (40014) one, and every
// request (hooks aside) counts in Audit.Requests.
func TestPassthrough(t *testing.T) {
	f := newFake(t, Config{Lifetime: time.Hour, Overlap: time.Minute})
	old := f.classic().AccessToken
	cur := f.classic().AccessToken
	f.clk.Step(time.Minute)
	send := func(tok string) answer {
		return f.post("/cgi-bin/message/custom/send?access_token="+url.QueryEscape(tok), []byte(`{"touser":"o","msgtype":"text"}`))
	}
	wantCode(t, send(cur), 0)
	wantCode(t, send(old), 40001)
	wantCode(t, send("bogus"), 40014)
	wantCode(t, f.post("/cgi-bin/message/custom/send?access_token="+cur, []byte(`not json`)), 47001)
	if a := f.get("/cgi-bin/user/info", url.Values{"access_token": {cur}, "openid": {"o1"}}); a.ErrCode != 0 || a.raw == "" {
		t.Fatalf("user/info: %+v", a)
	}
	f.get("/no/such/path", nil)
	_ = f.get("/audit", nil) // a hook: not counted
	f.clk.Step(time.Hour)
	wantCode(t, send(cur), 42001)
	au := f.Audit()
	if au.Passthrough[appID+"/"+passthrough.CustomSend] != 2 || au.Passthrough[appID+"/"+passthrough.UserInfo] != 1 {
		t.Fatalf("passthrough audit %v", au.Passthrough)
	}
	if au.Requests != 2+4+1+1+1 { // two token calls, four sends, user/info, a 404, the expired send
		t.Fatalf("requests %d", au.Requests)
	}
}

func TestPassthrough_media(t *testing.T) {
	f := newFake(t, Config{})
	tok := f.classic().AccessToken
	const size = 3<<20 + 7
	resp, err := f.hc.Get(f.URL + "/cgi-bin/media/get?access_token=" + url.QueryEscape(tok) + "&media_id=" + MediaID(size))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, _ := io.ReadAll(MediaReader(size))
	if !bytes.Equal(got, want) || resp.ContentLength != size || bytes.Equal(want[:1<<10], want[1<<10:2<<10]) {
		t.Fatalf("media/get: %d bytes (Content-Length %d), want %d deterministic bytes", len(got), resp.ContentLength, size)
	}
	wantCode(t, f.get("/cgi-bin/media/get", url.Values{"access_token": {tok}, "media_id": {"nope"}}), 40007)

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("media", "a.jpg")
	_, _ = part.Write(want)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", f.URL+"/cgi-bin/media/upload?type=image&access_token="+url.QueryEscape(tok), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	a := f.do(req)
	var up struct {
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	}
	_ = json.Unmarshal([]byte(a.raw), &up)
	sum := sha256.Sum256(want)
	if a.ErrCode != 0 || up.Size != size || up.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("media/upload: %s", a.raw)
	}
}
