package envelope

// weChatMessages are WeChat's errmsg texts (without the rid suffix).
var weChatMessages = map[int]string{
	-1:    "system error",
	40001: "invalid credential, access_token is invalid or not latest",
	40002: "invalid grant_type",
	40013: "invalid appid",
	40014: "invalid access_token",
	40097: "invalid args",
	40125: "invalid appsecret",
	40164: "invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist",
	40243: "AppSecret已被冻结，请登录MP解冻后再次调用。",
	41001: "access_token missing",
	41002: "appid missing",
	41004: "appsecret missing",
	42001: "access_token expired",
	45009: "reach max api daily quota limit",
	45011: "api minute-quota reach limit  mustslower  retry next minute",
	47001: "data format error",
	48006: "forbid to clear quota because of reaching the limit",
	89501: "此IP正在等待管理员确认,请联系管理员",
	89503: "此IP调用需要管理员确认,请联系管理员",
	89506: "24小时内该IP被管理员拒绝调用两次，24小时内不可再使用该IP调用",
	89507: "1小时内该IP被管理员拒绝调用一次，1小时内不可再使用该IP调用",
}

// wecomMessages are WeCom's errmsg texts (without the hint suffix).
var wecomMessages = map[int]string{
	-1:    "system busy",
	40001: "invalid credential",
	40013: "invalid corpid",
	40014: "invalid access_token",
	40058: "invalid parameter",
	41001: "access_token missing",
	41002: "corpid missing",
	41004: "corpsecret missing",
	42001: "access_token expired",
	45009: "api freq out of limit",
	45033: "api concurrent out of limit",
	60020: "not allow to access from your ip",
}

// Feishu's codes, from its generic error code list and observed answers:
// an unknown app_id gets 10003 "invalid param" (HTTP 200), a wrong secret
// 10014 "app secret invalid"; an API call with a bad tenant token 99991663,
// without one 99991661.
const (
	FeishuInvalidParam = 10003
	FeishuBadSecret    = 10014
	FeishuMissingToken = 99991661
	FeishuInvalidToken = 99991663
)

var feishuMessages = map[int]string{
	FeishuInvalidParam: "invalid param",
	FeishuBadSecret:    "app secret invalid",
	99991400:           "request trigger frequency limit",
	FeishuMissingToken: "Missing access token for authorization. Please make a request with token attached.",
	FeishuInvalidToken: "Invalid access token for authorization. Please make a request with token attached.",
}

// dingtalkMessages are DingTalk's errmsg texts. gettoken answers 40096 for
// an unknown appkey and for a wrong secret alike (observed; the global
// error table lists only 40089), 40035 for a missing parameter.
var dingtalkMessages = map[int]string{
	-1:    "系统繁忙",
	40014: "不合法的access_token",
	40035: "缺少参数 appkey or appsecret",
	40096: "不合法的appKey或appSecret",
	41001: "缺少access_token参数",
	42001: "access_token超时",
}
