package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// errUsage marks command-line errors (already printed by the flag set).
var errUsage = errors.New("wxsim: usage")

// app is one -app, -feishu or -dingtalk flag.
type app struct{ id, secret string }

// wecomApp is one -wecom flag.
type wecomApp struct{ corpid, agentid, secret string }

type options struct {
	listen   string
	verbose  bool
	cfg      wechattest.Config
	apps     []app // WeChat
	wecom    []wecomApp
	feishu   []app
	dingtalk []app
}

// Demo apps, one per platform, registered when no app flag is given.
var (
	demoWeChat   = app{"wxdemo0000000001", "demosecret"}
	demoWeCom    = wecomApp{"wwdemo0000000001", "1000002", "demosecret"}
	demoFeishu   = app{"cli_demo00000001", "demosecret"}
	demoDingTalk = app{"dingdemo00000001", "demosecret"}
)

// routes lists every route the fake serves (package wechattest), for the
// usage text; TestUsage_listsEveryRoute checks each is served.
var routes = []struct{ method, path, what string }{
	{"GET", "/cgi-bin/token?grant_type=client_credential&appid=&secret=", "WeChat classic access token"},
	{"POST", "/cgi-bin/stable_token", "WeChat stable access token (JSON body; force_refresh)"},
	{"POST", "/cgi-bin/clear_quota/v2", "reset a WeChat app's daily quota"},
	{"GET", "/cgi-bin/getcallbackip?access_token=", "WeChat probe: checks the token"},
	{"GET", "/cgi-bin/ticket/getticket?access_token=&type=jsapi|wx_card", "WeChat JS-SDK tickets"},
	{"GET", "/cgi-bin/gettoken?corpid=&corpsecret=", "WeCom access token"},
	{"GET", "/cgi-bin/get_jsapi_ticket?access_token=", "WeCom corp jsapi ticket"},
	{"GET", "/cgi-bin/ticket/get?access_token=&type=agent_config", "WeCom app agent_config ticket"},
	{"GET", "/cgi-bin/get_api_domain_ip?access_token=", "WeCom probe"},
	{"POST", "/open-apis/auth/v3/tenant_access_token/internal", "Feishu tenant_access_token (JSON body app_id, app_secret)"},
	{"GET", "/open-apis/event/v1/outbound_ip", "Feishu probe (Authorization: Bearer <tenant token>)"},
	{"GET", "/gettoken?appkey=&appsecret=", "DingTalk access token"},
	{"GET", "/get_jsapi_ticket?access_token=", "DingTalk jsapi ticket"},
	{"POST", "/topapi/user/count?access_token=", "DingTalk probe"},
	{"GET", "/audit", "test double only: fetch, ticket, probe and error counters (JSON)"},
	{"POST", "/apps", `test double only: register an app, body {"platform","appid","agentid","secret"}`},
	{"POST", "/rotate?appid=&endpoint=token|stable_token", "test double only: the app's token is replaced out of band (app=KEY for WeCom, Feishu, DingTalk)"},
	{"POST", "/rotate_ticket?owner=KEY&kind=", "test double only: the owner's ticket is replaced out of band"},
	{"GET", "/check?access_token=|ticket=", "test double only: is this token or ticket the live one, and whose"},
	{"POST", "/fault", "test double only: inject a fault (JSON body)"},
	{"DELETE", "/fault", "test double only: clear the fault"},
}

func usage(fs *flag.FlagSet, out io.Writer) func() {
	return func() {
		fmt.Fprintln(out, "usage: wxsim [flags]\n\nA fake WeChat, WeCom, Feishu and DingTalk token API for demos and tests;\nnever expose it. App keys: a WeChat appid, wecom:CORPID:AGENTID,\nwecom:CORPID (the corp's jsapi ticket), feishu:APP_ID, dingtalk:APPKEY. Routes:")
		for _, r := range routes {
			fmt.Fprintf(out, "  %-4s %s\n         %s\n", r.method, r.path, r.what)
		}
		fmt.Fprintln(out, "\nFlags:")
		fs.PrintDefaults()
	}
}

// appFlag parses id:secret into *dst (the secret may contain ':').
func appFlag(dst *[]app) func(string) error {
	return func(v string) error {
		id, secret, ok := strings.Cut(v, ":")
		if !ok || id == "" || secret == "" {
			return errors.New("want id:secret")
		}
		*dst = append(*dst, app{id, secret})
		return nil
	}
}

// choice parses one of two words into *dst: false for no, true for yes.
func choice(dst *bool, no, yes string) func(string) error {
	return func(v string) error {
		switch v {
		case no, yes:
			*dst = v == yes
			return nil
		}
		return fmt.Errorf("want %s or %s", no, yes)
	}
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("wxsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = usage(fs, out)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8090", "address to listen on")
	fs.DurationVar(&o.cfg.Lifetime, "lifetime", 7200*time.Second, "token lifetime, every platform (whole seconds)")
	fs.DurationVar(&o.cfg.Overlap, "overlap", 5*time.Minute, "how long a superseded classic token keeps working; stable rotation window")
	fs.IntVar(&o.cfg.DailyQuota, "daily-quota", 2000, "WeChat calls per app per endpoint family per day before 45009 (negative: unlimited)")
	fs.IntVar(&o.cfg.MinuteQuota, "minute-quota", 0, "WeChat calls per app per endpoint family per minute before 45011 (0: off)")
	fs.IntVar(&o.cfg.ForceDailyLimit, "force-daily-limit", 20, "stable force_refresh calls per app per day")
	fs.DurationVar(&o.cfg.ForceInterval, "force-interval", 30*time.Second, "shortest time between two force_refresh calls")
	fs.BoolVar(&o.verbose, "v", false, "log every request (path only, never the query)")
	fs.Func("app", "appid:secret of a WeChat account (repeatable)", appFlag(&o.apps))
	fs.Func("wecom", "corpid:agentid:secret of a WeCom app (repeatable)", func(v string) error {
		corp, rest, _ := strings.Cut(v, ":")
		agent, secret, ok := strings.Cut(rest, ":")
		if !ok || corp == "" || agent == "" || secret == "" {
			return errors.New("want corpid:agentid:secret")
		}
		o.wecom = append(o.wecom, wecomApp{corp, agent, secret})
		return nil
	})
	fs.Func("feishu", "app_id:secret of a Feishu app (repeatable)", appFlag(&o.feishu))
	fs.Func("dingtalk", "appkey:secret of a DingTalk app (repeatable)", appFlag(&o.dingtalk))
	platformFlags(fs, &o.cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(out, "unexpected arguments: %q\n", fs.Args())
		return o, errUsage
	}
	if msg := validate(o.cfg); msg != "" {
		fmt.Fprintln(out, msg)
		return o, errUsage
	}
	if len(o.apps)+len(o.wecom)+len(o.feishu)+len(o.dingtalk) == 0 {
		o.apps, o.wecom, o.feishu, o.dingtalk = []app{demoWeChat}, []wecomApp{demoWeCom}, []app{demoFeishu}, []app{demoDingTalk}
	}
	return o, nil
}

// platformFlags registers the ticket, WeCom, Feishu and DingTalk flags.
func platformFlags(fs *flag.FlagSet, cfg *wechattest.Config) {
	fs.DurationVar(&cfg.TicketLifetime, "ticket-lifetime", 0, "JS-SDK ticket lifetime (0: -lifetime)")
	fs.Func("ticket-expires-in", "what a ticket answer's expires_in says: full (the whole lifetime, every time; default) or remaining",
		choice(&cfg.TicketRemainingExpiresIn, "full", "remaining"))
	fs.Func("wecom-repeat", "a WeCom gettoken repeat: keep (expires_in shrinks; default) or extend (a full lifetime again)",
		renewal(&cfg.WeComRepeat))
	fs.Func("dingtalk-repeat", "a DingTalk gettoken repeat: extend (default) or keep", renewal(&cfg.DingTalkRepeat))
	fs.IntVar(&cfg.WeComAppTicketHourly, "wecom-app-ticket-hourly", 100, "WeCom ticket calls per app per kind in any hour before 45009 (negative: unlimited)")
	fs.IntVar(&cfg.WeComCorpTicketHourly, "wecom-corp-ticket-hourly", 400, "WeCom ticket calls per corp per kind in any hour before 45009 (negative: unlimited)")
	fs.IntVar(&cfg.WeComInvalidatedErrcode, "wecom-invalidated-errcode", 42001, "answer to a WeCom token invalidated early (POST /rotate)")
	fs.DurationVar(&cfg.FeishuRotateWindow, "feishu-rotate-window", 0, "a Feishu token call with less than this left gets a new token (0: 30m, or a quarter of -lifetime if that is 30m or less)")
	fs.IntVar(&cfg.FeishuAuthErrorStatus, "feishu-auth-status", 400, "HTTP status of a Feishu answer refusing a token")
}

// renewal parses keep or extend into *dst.
func renewal(dst *wechattest.Renewal) func(string) error {
	return func(v string) error {
		switch v {
		case "keep":
			*dst = wechattest.RenewKeep
		case "extend":
			*dst = wechattest.RenewExtend
		default:
			return errors.New("want keep or extend")
		}
		return nil
	}
}

// validate returns the usage message for an invalid combination, or "".
func validate(cfg wechattest.Config) string {
	switch {
	case cfg.Lifetime <= 0 || cfg.Overlap <= 0 || cfg.Overlap >= cfg.Lifetime:
		return "-lifetime and -overlap must be positive, with -overlap < -lifetime"
	case cfg.TicketLifetime < 0:
		return "-ticket-lifetime cannot be negative"
	case cfg.FeishuRotateWindow < 0 || cfg.FeishuRotateWindow >= cfg.Lifetime:
		return "-feishu-rotate-window must be 0 or positive and below -lifetime"
	case cfg.WeComAppTicketHourly == 0 || cfg.WeComCorpTicketHourly == 0:
		return "-wecom-app-ticket-hourly and -wecom-corp-ticket-hourly must be positive, or negative for no limit"
	case cfg.WeComInvalidatedErrcode == 0:
		return "-wecom-invalidated-errcode cannot be 0"
	case cfg.FeishuAuthErrorStatus < 200 || cfg.FeishuAuthErrorStatus > 599:
		return "-feishu-auth-status must be an HTTP status"
	}
	return ""
}
