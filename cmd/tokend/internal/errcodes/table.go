package errcodes

// What tokend does, said once for each refresher class.
const (
	doRetry  = "Retries with backoff (1 s to 1 min, jittered); the stored token is served meanwhile."
	doConfig = "Logs an error with the code, shows it in /v1/status, the console and metrics, serves the stored " +
		"token until it expires, retries every 5 min."
	doRejected = "A ticket fetch or probe that gets it reports the token: the leader fetches a new one at once. " +
		"Clients that get it report the token the same way (POST /v1/apps/{app}/refresh or the compat routes)."
	doCompatMissing = "The compat routes answer it to a request that carries no token."
	doNothing       = "Nothing: tokend never makes this call itself."
)

// What the operator does, said once.
const (
	opNone        = ""
	opCallerBug   = "Fix the caller: it sent no token."
	opOtherCaller = "find what else calls the token endpoint with this secret (another server, an SDK with its " +
		"own cache) and point it at tokend."
	opWaitIP = "An administrator of the account confirms the IP in WeChat; tokend's next retry then succeeds."
	opExpiry = "If clients see it often, they keep tokens past expires_in: have them read tokend on every use."
)

// table is the guide. Sources:
//   - WeChat: the token endpoint's documentation
//     (https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html)
//     and the global return codes (as mirrored by WxJava's WxMpErrorMsgEnum
//     and WxOpenErrorMsgEnum: 40164 "invalid ip, not in whitelist", 45009
//     "reach max api daily quota limit, clear_quota restores it", 48006
//     "forbid to clear quota because of reaching the limit", 61004 "access
//     clientip is not registered", 61005/61006 component ticket expired /
//     invalid, 61009/61010 auth_code invalid / expired, 61023 "refresh_token is invalid", 89501-89507 risk control),
//     ../shared/UPSTREAM.md, and refresher/wechat's Classify.
//   - WeCom: the global error codes, https://developer.work.weixin.qq.com/document/path/90313
//     (as WxJava's WxCpErrorMsgEnum mirrors them), and refresher/wecom's Classify.
//   - Feishu: refresher/feishu's Classify (10003, 10014, 99991400), the
//     generic error codes (https://open.larkoffice.com/document/server-docs/api-call-guide/generic-error-code)
//     and the compat routes (99991661, 99991663).
//   - DingTalk: refresher/dingtalk's Classify and the answers it cites.
var table = []Entry{
	// WeChat.
	retry(WeChat, -1, "WeChat is busy (system error)", "Nothing, unless it lasts for many minutes."),
	{Platform: WeChat, Code: 40001, Meaning: "wrong AppSecret (token endpoint), or a token that is invalid or no longer the latest (any other call)",
		Tokend: "On the token endpoint: " + doConfig + " On other calls: " + doRejected,
		Operator: "On the token endpoint: check the app's secret against the admin console (after a reset, update tokend first). " +
			"On other calls: someone else fetched a newer token; " + opOtherCaller, Class: ClassConfig, TokenCall: ClassTokenRejected},
	config(WeChat, 40002, "invalid grant_type",
		"tokend always sends client_credential: check that base_url points at WeChat's API."),
	config(WeChat, 40013, "invalid AppID",
		"Check apps[].appid (case, stray characters) and that the secret is this AppID's."),
	rejected(WeChat, 40014, "invalid access_token (never issued, of another account, or long expired)", doRejected+" The compat routes answer it to a token tokend does not know.",
		"A client that keeps getting it sends a token of another app or environment."),
	config(WeChat, 40125, "invalid AppSecret",
		"Check the secret (copied whole, no spaces); if it was reset, put the new one in tokend's secret_env or secret_file."),
	config(WeChat, 40164, "this host's IP is not in the WeChat whitelist",
		"Add the egress IP of every tokend replica (any replica may lead) to the account's IP whitelist "+
			"(Official Account: 开发 → 基本配置 → IP白名单). The errmsg names the IP WeChat saw."),
	config(WeChat, 40243, "the AppSecret is frozen",
		"Unfreeze the AppSecret in the admin console (mp.weixin.qq.com); tokend's next retry then succeeds."),
	rejected(WeChat, 41001, "access_token missing", doRejected+" "+doCompatMissing,
		opCallerBug),
	config(WeChat, 41002, "appid missing",
		"tokend sends the configured appid: check that nothing at base_url (a proxy) drops query parameters."),
	config(WeChat, 41004, "appsecret missing",
		"Check that the secret variable or file is not empty and that no proxy at base_url drops parameters."),
	rejected(WeChat, 42001, "access_token expired", doRejected,
		opExpiry),
	{Platform: WeChat, Code: 45009, Meaning: "daily API quota reached (the token endpoint allows 2000 calls a day)",
		Tokend: "Stops calling for this credential until the next quota day (midnight UTC+8 by Redis's clock, plus a minute); " +
			"the stored token is served until it expires.",
		Operator: "Find what else calls the token endpoint with this appid (another server, an SDK with its own cache). If the stored token expires before the reset, reset the quota: POST /cgi-bin/clear_quota/v2 " +
			`{"appid","appsecret"}, at most 10 times a month (48006 after that).`, Class: ClassQuota, TokenCall: ClassQuota},
	retry(WeChat, 45011, "per-minute API limit reached", opNone),
	{Platform: WeChat, Code: 48001, Meaning: "the account has no permission for this API (e.g. a ticket kind)",
		Tokend: doConfig, Operator: "Remove the ticket kind from apps[].tickets, or obtain the permission for the account.",
		Class: ClassRetry, TokenCall: ClassConfig},
	{Platform: WeChat, Code: 48006, Meaning: "clear_quota refused: the monthly number of quota resets is used up", Tokend: doNothing,
		Operator: "Wait for the next quota day (midnight UTC+8).", Class: ClassRetry, TokenCall: ClassRetry},
	{Platform: WeChat, Code: 61004, Meaning: "Open Platform: this host's IP is not registered for the component",
		Tokend: "Component tokens: as 40164.", Operator: "Add every replica's egress IP to the third-party platform's IP whitelist (open.weixin.qq.com)."},
	{Platform: WeChat, Code: 61005, Meaning: "Open Platform: the component verify ticket expired",
		Tokend:   "Waits for WeChat's next push (every 10 min); with no ticket for 20 min it calls api_start_push_ticket.",
		Operator: "Check that WeChat reaches POST /callback/components/{id} (the authorization event URL) and that its token and EncodingAESKey match."},
	{Platform: WeChat, Code: 61006, Meaning: "Open Platform: the component verify ticket is invalid",
		Tokend: "Waits for WeChat's next push, as for 61005.", Operator: "As for 61005."},
	{Platform: WeChat, Code: 61009, Meaning: "Open Platform: the authorization code (auth_code) is invalid",
		Tokend: "POST /v1/components/{id}/authorizations answers 400 with the errcode and stores nothing; an authorization push " +
			"whose code is refused is answered success, logged and audited as failed.",
		Operator: "Post the auth_code of the authorization redirect unchanged, to the component that made its pre_auth_code; " +
			"else start the authorization again."},
	{Platform: WeChat, Code: 61010, Meaning: "Open Platform: the authorization code (auth_code) expired or was already used",
		Tokend: "As for 61009.",
		Operator: "An auth_code is single use and lives an hour: post it once, at once. If the authorized push used it first, " +
			"the authorizer is already stored (GET /v1/components/{id}/authorizers); else start the authorization again."},
	{Platform: WeChat, Code: 61023, Meaning: "Open Platform: the authorizer's refresh token is invalid; the account must re-authorize",
		Tokend:   "Marks the authorizer \"needs re-authorization\" in status.",
		Operator: "Have the account's administrator authorize the platform again (or remove the authorizer if it left)."},
	config(WeChat, 89501, "risk control: this IP waits for an administrator's confirmation",
		opWaitIP),
	config(WeChat, 89503, "risk control: calls from this IP need an administrator's confirmation",
		opWaitIP),
	config(WeChat, 89506, "risk control: an administrator refused this IP twice in 24 h; it is blocked for 24 h",
		"Wait 24 h (or call from another IP), then have an administrator confirm the IP."),
	config(WeChat, 89507, "risk control: an administrator refused this IP in the last hour; it is blocked for 1 h",
		"Wait an hour, then have an administrator confirm the IP."),
	{Platform: WeChat, Code: 89500, Last: 89599, Meaning: "risk control (the rest of the 895xx family)", Tokend: doConfig,
		Operator: "Read the errmsg: an administrator of the account usually has to act in WeChat.", Class: ClassConfig, TokenCall: ClassConfig},

	// WeCom.
	retry(WeCom, -1, "WeCom is busy", opNone),
	config(WeCom, 40001, "invalid secret (on gettoken it is the corpsecret, not a token)",
		"Check the app's secret: every WeCom app (agent) has its own."),
	config(WeCom, 40013, "invalid corpid",
		"Check apps[].appid: the corpid (企业ID, shown in the admin console)."),
	rejected(WeCom, 40014, "invalid access_token", doRejected,
		"A client that keeps getting it sends a token of another app."),
	config(WeCom, 40091, "invalid secret: probably another corp's",
		"Use the secret of an app of this corpid."),
	rejected(WeCom, 41001, "access_token missing", doRejected+" "+doCompatMissing,
		opCallerBug),
	config(WeCom, 41002, "corpid missing",
		"Check that no proxy at base_url drops query parameters."),
	config(WeCom, 41004, "corpsecret missing",
		"Check that the secret variable or file is not empty."),
	rejected(WeCom, 42001, "access_token expired (WeCom may end a token early)", doRejected,
		opExpiry),
	retry(WeCom, 45009, "call frequency limit reached (WeCom counts per minute and per hour)", "If it lasts, "+opOtherCaller),
	retry(WeCom, 45033, "too many concurrent calls", opNone),
	config(WeCom, 48002, "the app may not call this API",
		"Grant the app the API in the admin console, or remove the ticket kind or probe that needs it."),
	config(WeCom, 48006, "the app's permission was revoked",
		"An administrator re-enables the app's permission in the admin console."),
	config(WeCom, 50003, "the app is disabled",
		"Enable the app again in the admin console (企业应用 / 应用管理)."),
	config(WeCom, 60020, "this host's IP is not in the app's trusted IPs",
		"Add the egress IP of every tokend replica to the app's trusted IPs (企业可信IP, in the app's settings)."),

	// Feishu.
	config(Feishu, 10003, "invalid param: app_id missing or unknown",
		"Check apps[].appid (the App ID, cli_...)."),
	config(Feishu, 10014, "app secret invalid",
		"Check the App Secret in the developer console; after a reset, update tokend."),
	retry(Feishu, 99991400, "request rate limit reached", opNone),
	{Platform: Feishu, Code: 99991661, Meaning: "access token missing", Tokend: doCompatMissing, Operator: opCallerBug, Class: ClassRetry},
	{Platform: Feishu, Code: 99991663, Meaning: "invalid tenant_access_token",
		Tokend: "The compat routes answer it to a token tokend does not know. A report fetches again, but Feishu answers the same " +
			"token while 30 min or more remain.",
		Operator: "A client that gets it with tokend's current token sends it to another app or tenant.", Class: ClassRetry},
	{Platform: Feishu, Code: 99991664, Meaning: "invalid app_access_token",
		Tokend:   "Nothing: tokend keeps tenant_access_token only.",
		Operator: "The API wants an app_access_token, which tokend does not serve.", Class: ClassRetry},

	// DingTalk.
	retry(DingTalk, -1, "DingTalk is busy", opNone),
	retry(DingTalk, 88, "authentication error with a sub_code, often a passing throttle", "If it lasts, read the sub_code in the last error."),
	{Platform: DingTalk, Code: 40001, Meaning: "wrong secret (gettoken), or an invalid access_token (other calls)",
		Tokend:   "On gettoken: " + doConfig + " On other calls: " + doRejected,
		Operator: "On gettoken: check the AppSecret. On other calls: " + opOtherCaller, Class: ClassConfig, TokenCall: ClassTokenRejected},
	rejected(DingTalk, 40014, "invalid access_token (DingTalk also answers it for an expired one)", doRejected,
		opExpiry),
	{Platform: DingTalk, Code: 40035, Meaning: "missing parameter", Tokend: "The compat routes answer it to a request without appkey or appsecret.",
		Operator: "Fix the caller: it left out a parameter.", Class: ClassRetry, TokenCall: ClassRetry},
	config(DingTalk, 40089, "invalid appkey or appsecret (as DingTalk's global table lists it)",
		"Check apps[].appid (the AppKey) and the AppSecret."),
	config(DingTalk, 40096, "invalid appkey or appsecret (as gettoken answers it)",
		"Check apps[].appid (the AppKey) and the AppSecret."),
	rejected(DingTalk, 41001, "access_token missing", doRejected+" "+doCompatMissing,
		opCallerBug),
	rejected(DingTalk, 42001, "access_token expired", doRejected,
		opExpiry),
	config(DingTalk, 60020, "this host's IP is not in the app's IP whitelist",
		"Add the egress IP of every tokend replica to the app's server IP whitelist in the developer console."),
}

// config is a configuration error on every call.
func config(platform string, code int, meaning, operator string) Entry {
	return Entry{Platform: platform, Code: code, Meaning: meaning, Tokend: doConfig, Operator: operator,
		Class: ClassConfig, TokenCall: ClassConfig}
}

// retry is a transient error on every call.
func retry(platform string, code int, meaning, operator string) Entry {
	return Entry{Platform: platform, Code: code, Meaning: meaning, Tokend: doRetry, Operator: operator,
		Class: ClassRetry, TokenCall: ClassRetry}
}

// rejected refuses the token a call was made with.
func rejected(platform string, code int, meaning, tokend, operator string) Entry {
	return Entry{Platform: platform, Code: code, Meaning: meaning, Tokend: tokend, Operator: operator,
		Class: ClassRetry, TokenCall: ClassTokenRejected}
}
