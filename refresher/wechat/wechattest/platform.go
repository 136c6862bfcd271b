package wechattest

import (
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/platforms"
)

// Platforms served by the fake. Status.Platform carries these names.
const (
	PlatformWeChat   = ledger.PlatformWeChat
	PlatformWeCom    = ledger.PlatformWeCom
	PlatformFeishu   = ledger.PlatformFeishu
	PlatformDingTalk = ledger.PlatformDingTalk
)

// Ticket kinds.
const (
	KindJSAPI       = platforms.KindJSAPI       // WeChat, WeCom (corp ticket), DingTalk
	KindWxCard      = platforms.KindWxCard      // WeChat
	KindAgentConfig = platforms.KindAgentConfig // WeCom (app ticket)
)

// App keys name an app in the audit, in Status and in the HTTP hooks. A
// WeChat account's key is its appid; the other platforms' keys are
// prefixed with the platform, so the same id on two platforms names two
// apps.

// WeComKey is the key of WeCom app agentid of corp corpid.
func WeComKey(corpid, agentid string) string { return ledger.WeComKey(corpid, agentid) }

// WeComCorpKey is the key of corp corpid, the owner of its jsapi ticket.
func WeComCorpKey(corpid string) string { return ledger.WeComCorpKey(corpid) }

// FeishuKey is the key of Feishu app appID.
func FeishuKey(appID string) string { return ledger.FeishuKey(appID) }

// DingTalkKey is the key of DingTalk app appKey.
func DingTalkKey(appKey string) string { return ledger.DingTalkKey(appKey) }

// platform is how one platform answers (see envelope).
type platform = envelope.Platform

// okBody is the success envelope of WeCom and DingTalk, merged into v.
func okBody(v map[string]any) map[string]any { return envelope.OK(v) }

func newPlatforms(cfg Config) map[string]*platform {
	return envelope.Platforms(cfg.WeComInvalidatedErrcode, cfg.FeishuAuthErrorStatus)
}

// The WeChat endpoint names the Server's own code uses (all names are in
// internal/platforms): keys of Audit.Errors, values of Fault.Endpoint.
const (
	epToken  = platforms.Token
	epStable = platforms.Stable
)

// endpoint describes one served endpoint.
type endpoint struct {
	platform *platform
	token    bool // a token endpoint: selected by Fault.Endpoint ""
}

func newEndpoints(ps map[string]*platform) map[string]endpoint {
	wx, wc, fs, dt := ps[PlatformWeChat], ps[PlatformWeCom], ps[PlatformFeishu], ps[PlatformDingTalk]
	return map[string]endpoint{
		epToken:                  {wx, true},
		epStable:                 {wx, true},
		platforms.CallbackIP:     {wx, false},
		platforms.Ticket:         {wx, false},
		platforms.ClearQuota:     {wx, false},
		platforms.WeComToken:     {wc, true},
		platforms.WeComJSAPI:     {wc, false},
		platforms.WeComAgent:     {wc, false},
		platforms.WeComDomainIP:  {wc, false},
		platforms.FeishuToken:    {fs, true},
		platforms.FeishuIP:       {fs, false},
		platforms.DingTalkToken:  {dt, true},
		platforms.DingTalkTicket: {dt, false},
		platforms.DingTalkCount:  {dt, false},
	}
}
