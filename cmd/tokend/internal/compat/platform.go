package compat

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// platform is how one upstream answers on the WeChat-shaped routes: its
// envelope, Content-Type and the errcodes it uses. Every answer is HTTP
// 200, as the upstreams answer their token and ticket calls. Read-only.
//
// Sources: UPSTREAM.md and the fake upstream (refresher/wechat/wechattest)
// for the codes and texts; WeChat's global return codes
// (developers.weixin.qq.com, "Global_Return_Code") for 43001/43002,
// 44002, 47001 and 40097.
type platform struct {
	name        string
	contentType string
	// The errcodes of each refusal.
	busy          int // no valid token at hand: the SDK retries
	badArgs       int // unknown, repeated or oversized parameters, a bad type
	badBody       int // a POST body that is not a JSON object of the fields
	emptyBody     int // an empty POST body
	unknownApp    int // no configured app with that appid
	wrongSecret   int // an app with that appid, another secret
	missingApp    int // the appid parameter is missing or empty
	missingSecret int // the secret parameter is missing or empty
	missingToken  int // access_token is missing or empty
	unknownToken  int // not a token tokend serves (or served within the overlap)
	needGET       int // a POST where the upstream wants GET
	needPOST      int // a GET where the upstream wants POST
	messages      map[int]string
	// errBody builds an error answer with its text.
	errBody func(code int, msg string) any
}

// The platforms.
var (
	wechatPlatform = &platform{
		name: "wechat", contentType: "application/json; encoding=utf-8",
		busy: -1, badArgs: 40097, badBody: 47001, emptyBody: 44002,
		unknownApp: 40013, wrongSecret: 40125, missingApp: 41002, missingSecret: 41004,
		missingToken: 41001, unknownToken: 40001, needGET: 43001, needPOST: 43002,
		messages: map[int]string{
			-1: "system busy", 40001: "invalid credential, access_token is invalid or not latest",
			40002: "invalid grant_type", 40013: "invalid appid", 40097: "invalid args", 40125: "invalid appsecret",
			41001: "access_token missing", 41002: "appid missing", 41004: "appsecret missing",
			43001: "require GET method", 43002: "require POST method", 44002: "empty post data", 47001: "data format error",
		},
		errBody: func(code int, msg string) any { return errcodeBody{code, msg + " rid: " + newRID()} },
	}
	wecomPlatform = &platform{
		name: "wecom", contentType: "application/json; charset=UTF-8",
		busy: -1, badArgs: 40058, badBody: 40058, emptyBody: 40058,
		unknownApp: 40013, wrongSecret: 40001, missingApp: 41002, missingSecret: 41004,
		missingToken: 41001, unknownToken: 40014, needGET: 43001, needPOST: 43002,
		messages: map[int]string{
			-1: "system busy", 40001: "invalid credential", 40013: "invalid corpid", 40014: "invalid access_token",
			40058: "invalid parameter", 41001: "access_token missing", 41002: "corpid missing", 41004: "corpsecret missing",
			43001: "require GET method", 43002: "require POST method",
		},
		errBody: func(code int, msg string) any {
			return errcodeBody{code, fmt.Sprintf("%s, hint: [%s], more info at https://open.work.weixin.qq.com/devtool/query?e=%d", msg, newRID(), code)}
		},
	}
	// Feishu answers an unknown app_id, a missing field and a body it
	// cannot read alike (10003) and a wrong secret with 10014; tokend
	// answers a wrong method and a busy store in the same envelope.
	feishuPlatform = &platform{
		name: "feishu", contentType: "application/json; charset=utf-8",
		busy: -1, badArgs: 10003, badBody: 10003, emptyBody: 10003,
		unknownApp: 10003, wrongSecret: 10014, missingApp: 10003, missingSecret: 10003,
		missingToken: 99991661, unknownToken: 99991663, needGET: 10003, needPOST: 10003,
		messages: map[int]string{-1: "system busy", 10003: "invalid param", 10014: "app secret invalid"},
		errBody:  func(code int, msg string) any { return feishuBody{Code: code, Msg: msg} },
	}
	// DingTalk answers an unknown appkey and a wrong secret alike (40096).
	dingtalkPlatform = &platform{
		name: "dingtalk", contentType: "application/json;charset=utf-8",
		busy: -1, badArgs: 40035, badBody: 40035, emptyBody: 40035,
		unknownApp: 40096, wrongSecret: 40096, missingApp: 40035, missingSecret: 40035,
		missingToken: 41001, unknownToken: 40014, needGET: 43001, needPOST: 43002,
		messages: map[int]string{
			-1: "系统繁忙", 40014: "不合法的access_token", 40035: "不合法的参数",
			40096: "不合法的appKey或appSecret", 41001: "缺少access_token参数", 43001: "需要GET请求", 43002: "需要POST请求",
		},
		errBody: func(code int, msg string) any { return errcodeBody{code, msg} },
	}
)

// errcodeBody is the error envelope of WeChat, WeCom and DingTalk.
type errcodeBody struct {
	Errcode int    `json:"errcode"`
	Errmsg  string `json:"errmsg"`
}

// feishuBody is Feishu's envelope; a token answer fills the last two.
type feishuBody struct {
	Code              int    `json:"code"`
	Msg               string `json:"msg"`
	TenantAccessToken string `json:"tenant_access_token,omitempty"`
	Expire            *int64 `json:"expire,omitempty"`
}

// wechatTokenBody is WeChat's token answer: no errcode on success.
type wechatTokenBody struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// okTokenBody is the token answer of WeCom and DingTalk.
type okTokenBody struct {
	Errcode     int    `json:"errcode"`
	Errmsg      string `json:"errmsg"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
}

// okTicketBody is the ticket answer of WeChat, WeCom and DingTalk.
type okTicketBody struct {
	Errcode   int    `json:"errcode"`
	Errmsg    string `json:"errmsg"`
	Ticket    string `json:"ticket"`
	ExpiresIn int64  `json:"expires_in"`
}

// write answers v with HTTP 200 in p's Content-Type. The body is the JSON
// alone, without the newline json.Encoder adds: the upstreams send none,
// and co-wechat-api's parser (which escapes control characters before
// JSON.parse) refuses a body that ends with one.
func (p *platform) write(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil { // strings and numbers only: cannot happen
		b = []byte(`{"errcode":-1,"errmsg":"system busy"}`)
	}
	w.Header().Set("Content-Type", p.contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// fail answers errcode code with p's text for it, followed by hint (a
// parameter name or what to configure; never a value from the request).
func (p *platform) fail(w http.ResponseWriter, code int, hint string) {
	msg := p.messages[code]
	if msg == "" {
		msg = "error"
	}
	if hint != "" && !strings.Contains(msg, hint) {
		msg += ": " + hint
	}
	p.write(w, p.errBody(code, msg))
}

// newRID returns a request id of WeChat's form,
// "xxxxxxxx-xxxxxxxx-xxxxxxxx".
func newRID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:16] + "-" + h[16:]
}
