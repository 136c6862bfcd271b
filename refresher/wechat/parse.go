package wechat

import (
	"github.com/tokend/tokend/refresher/upstream"
)

// The answers of WeChat's endpoints. A success has no errcode (tickets add
// "errcode":0,"errmsg":"ok"); an error is HTTP 200 with errcode/errmsg.
var (
	tokenShape  = upstream.ErrcodeShape("access_token", Classify)
	ticketShape = upstream.ErrcodeShape("ticket", ClassifyWithToken)
	probeShape  = upstream.ErrcodeShape("", ClassifyWithToken)
)

// Classify maps a WeChat token-endpoint errcode to a refresher class:
// ClassQuota for 45009 (daily quota); ClassConfig for wrong or missing
// credentials, bad grant_type, IP whitelist, frozen secret and the 895xx
// risk-control family; ClassRetry for -1 (busy), 45011 (minute quota) and
// every code it does not know. Codes from WeChat's token endpoint
// documentation, https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html,
// and its common error codes (see ClassifyWithToken).
func Classify(code int) upstream.Class {
	switch code {
	case 45009:
		return upstream.ClassQuota
	case 40001, 40125, 40002, 40013, 40164, 40243, 41002, 41004:
		return upstream.ClassConfig
	}
	if code >= 89500 && code <= 89599 {
		return upstream.ClassConfig
	}
	return upstream.ClassRetry
}

// ClassifyWithToken maps the errcode of a call made with an access token
// (a ticket fetch, a probe): ClassTokenRejected for 40001 (invalid or not
// the latest token), 40014 (illegal token), 42001 (expired) and 41001
// (token missing); ClassConfig for 48001 (the account lacks the API) and
// the token endpoint's configuration codes; ClassQuota for 45009 (the
// ticket's daily quota); ClassRetry otherwise. Source: WeChat's common
// error codes, https://developers.weixin.qq.com/doc/channels/API/basics/commErrCode.html
// (40001, 41001, 42001, 45009, 48001) and the Official Account global
// return codes (40014 "invalid access_token").
func ClassifyWithToken(code int) upstream.Class {
	switch code {
	case 40001, 40014, 42001, 41001:
		return upstream.ClassTokenRejected
	case 48001:
		return upstream.ClassConfig
	}
	return Classify(code)
}
