// Package envelope writes the answers of the fake upstream (package
// wechattest) in each platform's envelope: WeChat's
// {"errcode","errmsg":"... rid: ..."}, WeCom's errmsg with a hint,
// Feishu's {"code","msg"} and DingTalk's {"errcode","errmsg"}, each with
// its Content-Type, its errmsg texts and the errcodes it refuses a token
// with.
//
// A Platform is read-only after Platforms returns it and safe for
// concurrent use. The package does not decide anything: callers pass the
// errcode or token state to answer.
package envelope

import (
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

// JSONContentType is what WeChat sends with every JSON answer.
const JSONContentType = "application/json; encoding=utf-8"

// MaxRequestBody bounds JSON request bodies read by the fake.
const MaxRequestBody = 64 << 10

// Decode decodes the JSON body of r, at most MaxRequestBody bytes, into v.
func Decode(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, MaxRequestBody)).Decode(v)
}

// Platform is how one platform answers: its envelope, messages and the
// errcodes it uses to refuse a token.
type Platform struct {
	Name        string
	ContentType string
	messages    map[int]string // errmsg texts by errcode
	// rejects maps a token state (CodeNotLatest, CodeIllegal, CodeExpired,
	// CodeMissing) to the errcode answered for it; absent: the state.
	rejects map[int]int
	// rejectStatus is the HTTP status of a token refusal.
	rejectStatus int
	// BadArg is the errcode for an invalid parameter (a ticket type).
	BadArg int
	// errBody builds an error answer.
	errBody func(code int, msg string) any
}

// WriteJSON answers v with status in the platform's Content-Type.
func (p *Platform) WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		body = []byte(`{"errcode":-1,"errmsg":"fake: encode answer"}`)
	}
	w.Header().Set("Content-Type", p.ContentType)
	w.WriteHeader(status)
	_, _ = w.Write(body) // no trailing newline, like the real APIs (co-wechat-api refuses one)
}

// WriteError answers the platform's error envelope; msg defaults to the
// platform's text for code.
func (p *Platform) WriteError(w http.ResponseWriter, status, code int, msg string) {
	if msg == "" {
		msg = p.messages[code]
		if msg == "" {
			msg = "error"
		}
	}
	p.WriteJSON(w, status, p.errBody(code, msg))
}

// Fail answers errcode code with HTTP 200.
func (p *Platform) Fail(w http.ResponseWriter, code int) { p.WriteError(w, http.StatusOK, code, "") }

// Answer answers v with HTTP 200, or errcode code if it is not 0.
func (p *Platform) Answer(w http.ResponseWriter, v any, code int) {
	if code != 0 {
		p.Fail(w, code)
		return
	}
	p.WriteJSON(w, http.StatusOK, v)
}

// Reject refuses a token in state (a ledger.Code* value other than
// CodeOK).
func (p *Platform) Reject(w http.ResponseWriter, state int) {
	code := state
	if c, ok := p.rejects[state]; ok {
		code = c
	}
	p.WriteError(w, p.rejectStatus, code, "")
}

// OK is the success envelope of WeCom and DingTalk, merged into v.
func OK(v map[string]any) map[string]any {
	v["errcode"] = 0
	v["errmsg"] = "ok"
	return v
}

// RID returns a request id like WeChat's "xxxxxxxx-xxxxxxxx-xxxxxxxx".
func RID() string {
	b := make([]byte, 12)
	_, _ = crand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:16] + "-" + h[16:]
}

// Platforms returns the four platforms by name: WeCom refuses a token
// rotated early with wecomInvalidated, Feishu refuses tokens with HTTP
// status feishuAuthStatus.
func Platforms(wecomInvalidated, feishuAuthStatus int) map[string]*Platform {
	return map[string]*Platform{
		ledger.PlatformWeChat: {
			Name: ledger.PlatformWeChat, ContentType: JSONContentType, messages: weChatMessages,
			rejectStatus: http.StatusOK, BadArg: 40097,
			errBody: func(code int, msg string) any {
				return map[string]any{"errcode": code, "errmsg": msg + " rid: " + RID()}
			},
		},
		ledger.PlatformWeCom: {
			Name: ledger.PlatformWeCom, ContentType: "application/json; charset=UTF-8", messages: wecomMessages,
			rejects:      map[int]int{ledger.CodeNotLatest: wecomInvalidated},
			rejectStatus: http.StatusOK, BadArg: 40058,
			errBody: func(code int, msg string) any {
				return map[string]any{"errcode": code, "errmsg": fmt.Sprintf(
					"%s, hint: [%s], more info at https://open.work.weixin.qq.com/devtool/query?e=%d", msg, RID(), code)}
			},
		},
		ledger.PlatformFeishu: {
			Name: ledger.PlatformFeishu, ContentType: "application/json; charset=utf-8", messages: feishuMessages,
			rejects: map[int]int{
				ledger.CodeMissing: FeishuMissingToken, ledger.CodeIllegal: FeishuInvalidToken,
				ledger.CodeNotLatest: FeishuInvalidToken, ledger.CodeExpired: FeishuInvalidToken,
			},
			rejectStatus: feishuAuthStatus, BadArg: FeishuInvalidParam,
			errBody: func(code int, msg string) any { return map[string]any{"code": code, "msg": msg} },
		},
		ledger.PlatformDingTalk: {
			Name: ledger.PlatformDingTalk, ContentType: "application/json;charset=utf-8", messages: dingtalkMessages,
			rejects:      map[int]int{ledger.CodeNotLatest: ledger.CodeIllegal},
			rejectStatus: http.StatusOK, BadArg: 40035,
			errBody: func(code int, msg string) any { return map[string]any{"errcode": code, "errmsg": msg} },
		},
	}
}
