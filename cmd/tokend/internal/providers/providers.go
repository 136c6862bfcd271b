// Package providers is the provider table of tokend's config: for each
// name apps[].provider takes, the facts config validation checks (default
// base URL, ticket kinds, probe, agentid, what one upstream account is)
// and the constructors a start wires (Build). The facts themselves belong
// to the provider packages; the table only points at them. It does no I/O
// and reads no config file (package config maps its errors to YAML paths).
package providers

import (
	"fmt"
	"strings"
	"time"

	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/dingtalk"
	"github.com/tokend/tokend/refresher/feishu"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/refresher/wecom"
	"github.com/tokend/tokend/store"
)

// App is one configured app as the table's constructors need it.
type App struct {
	ID, Provider string
	// AppID is the account (WeCom corpid, Feishu app_id, DingTalk appkey);
	// BaseURL the upstream (validated, defaulted to Spec.BaseURL).
	AppID, BaseURL string
	Tickets        []string      // the ticket kinds to keep
	Probe          time.Duration // 0: off
}

// Spec is what tokend knows of one provider name: the one table that
// config validation (package config) and wiring (Build) follow.
type Spec struct {
	// BaseURL is the default base_url.
	BaseURL string
	// Tickets are the ticket kinds the provider can keep (apps[].tickets).
	Tickets []string
	// Probe: the provider has a cheap authenticated call (apps[].probe).
	Probe bool
	// AgentID: apps[].agentid is allowed (wecom).
	AgentID bool
	// Family names the upstream accounts: two apps of one family with the
	// same appid are one upstream credential. wechat and wechat_stable are
	// two families: WeChat keeps classic and stable tokens apart (fetching
	// one never retires the other), so one appid under both is two
	// credentials, as README has always promised.
	Family string
	// BySecret: an account is the appid AND the secret (WeCom: one corpid,
	// one secret per app of the corp).
	BySecret bool
	// DupReason says why a second app of the same account is refused.
	DupReason string
	// token builds the access-token provider; ticket the provider of one
	// ticket kind; prober the probe (only when probe).
	token  func(a App, secret func() string, minExpiresIn time.Duration) (upstream.Provider, error)
	ticket func(a App, kind string, minExpiresIn time.Duration) (upstream.Provider, error)
	prober func(a App, secret func() string) (upstream.Prober, error)
	// ticketBudgets are the caps of one ticket credential besides the
	// daily budget (WeCom's hourly limits); nil: none.
	ticketBudgets func(a App, id string) []store.Budget
}

// WeCom's hourly limits on ticket calls (README, "Credential kinds"): 100 an hour
// per app and 400 an hour per corp, enforced as store budgets.
const (
	wecomTicketsPerApp  = 100
	wecomTicketsPerCorp = 400
)

// wecomCorpBudget is the budget key WeCom ticket credentials of one corp
// share ("wecom-corp.<corpid>").
func wecomCorpBudget(corpid string) string { return "wecom-corp." + corpid }

// The range of apps[].probe when set (0 is off).
const (
	MinProbe = time.Second
	MaxProbe = 24 * time.Hour
)

// Lookup returns the spec of the provider called name.
func Lookup(name string) (Spec, bool) {
	s, ok := specs[name]
	return s, ok
}

// specs is the provider table, by the name apps[].provider takes.
// Read-only.
var specs = map[string]Spec{
	"wechat": wechatSpec("wechat", func(c wechat.Config) (upstream.Provider, error) {
		return wechat.NewClassic(c)
	}),
	"wechat_stable": wechatSpec("wechat_stable", func(c wechat.Config) (upstream.Provider, error) {
		return wechat.NewStable(c)
	}),
	"wecom": {
		BaseURL: wecom.DefaultBaseURL, Tickets: wecom.TicketKinds, Probe: true, AgentID: true,
		Family: "wecom", BySecret: true,
		DupReason: "a corpid with its secret is one WeCom app; configure it once (each app of a corp has its own secret)",
		token: func(a App, secret func() string, minExp time.Duration) (upstream.Provider, error) {
			return wecom.New(wecom.Config{CorpID: a.AppID, SecretFunc: secret, BaseURL: a.BaseURL, MinExpiresIn: minExp})
		},
		ticket: func(a App, kind string, minExp time.Duration) (upstream.Provider, error) {
			return wecom.NewTicket(ticketConfig(a, kind, minExp))
		},
		prober: func(a App, secret func() string) (upstream.Prober, error) {
			return wecom.NewProber(wecom.Config{CorpID: a.AppID, SecretFunc: secret, BaseURL: a.BaseURL})
		},
		ticketBudgets: wecomTicketBudgets,
	},
	"feishu": {
		BaseURL: feishu.DefaultBaseURL, Family: "feishu",
		DupReason: "two apps would be one Feishu app fetched twice",
		token: func(a App, secret func() string, minExp time.Duration) (upstream.Provider, error) {
			return feishu.New(feishu.Config{AppID: a.AppID, SecretFunc: secret, BaseURL: a.BaseURL, MinExpiresIn: minExp})
		},
	},
	"dingtalk": {
		BaseURL: dingtalk.DefaultBaseURL, Tickets: dingtalk.TicketKinds, Family: "dingtalk",
		DupReason: "two apps would be one DingTalk app fetched twice",
		token: func(a App, secret func() string, minExp time.Duration) (upstream.Provider, error) {
			return dingtalk.New(dingtalk.Config{AppKey: a.AppID, SecretFunc: secret, BaseURL: a.BaseURL, MinExpiresIn: minExp})
		},
		ticket: func(a App, kind string, minExp time.Duration) (upstream.Provider, error) {
			return dingtalk.NewTicket(ticketConfig(a, kind, minExp))
		},
	},
}

// Names lists the provider names for messages, in a fixed order.
const Names = "wechat, wechat_stable, wecom, feishu or dingtalk"

// wechatSpec is the spec of a WeChat token endpoint: the provider name
// (its own family) and constructor.
func wechatSpec(name string, newToken func(wechat.Config) (upstream.Provider, error)) Spec {
	return Spec{
		BaseURL: wechat.DefaultBaseURL, Tickets: wechat.TicketKinds, Probe: true,
		Family: name, DupReason: "two apps would retire each other's tokens",
		token: func(a App, secret func() string, minExp time.Duration) (upstream.Provider, error) {
			return newToken(wechatConfig(a, secret, minExp))
		},
		ticket: func(a App, kind string, minExp time.Duration) (upstream.Provider, error) {
			return wechat.NewTicket(ticketConfig(a, kind, minExp))
		},
		prober: func(a App, secret func() string) (upstream.Prober, error) {
			return wechat.NewProber(wechatConfig(a, secret, 0))
		},
	}
}

func wechatConfig(a App, secret func() string, minExp time.Duration) wechat.Config {
	return wechat.Config{AppID: a.AppID, SecretFunc: secret, BaseURL: a.BaseURL, MinExpiresIn: minExp}
}

// ticketConfig configures a ticket provider of a: tickets are fetched
// with the parent token from a's base_url, no secret.
func ticketConfig(a App, kind string, minExp time.Duration) upstream.TicketConfig {
	return upstream.TicketConfig{Kind: kind, BaseURL: a.BaseURL, MinExpiresIn: minExp}
}

func wecomTicketBudgets(a App, id string) []store.Budget {
	return []store.Budget{
		{Key: id, Limit: wecomTicketsPerApp, Window: time.Hour},
		{Key: wecomCorpBudget(strings.TrimSpace(a.AppID)), Limit: wecomTicketsPerCorp, Window: time.Hour},
	}
}

// Build returns the refresher apps of one configured app: its token,
// then one ticket credential per configured kind ("<app>:<kind>", fetched
// with the app's token). secret is the app's secret as it is now (re-read
// from secret_file when the file changes). A constructor's error is the
// provider package's *FieldError (package config maps it).
func Build(a App, secret func() string, minExpiresIn time.Duration) ([]refresher.App, error) {
	spec, ok := specs[a.Provider]
	if !ok {
		return nil, fmt.Errorf("providers: unknown provider %q", a.Provider) // config refuses it first
	}
	p, err := spec.token(a, secret, minExpiresIn)
	if err != nil {
		return nil, err
	}
	tok := refresher.App{ID: a.ID, Provider: p, Kind: a.Provider, Repeat: repeatOf(p)}
	if a.Probe > 0 {
		if tok.Prober, err = spec.prober(a, secret); err != nil {
			return nil, err
		}
		tok.ProbeEvery = a.Probe
	}
	out := []refresher.App{tok}
	for _, kind := range a.Tickets {
		tp, err := spec.ticket(a, kind, minExpiresIn)
		if err != nil {
			return nil, err
		}
		id := a.ID + ":" + kind
		t := refresher.App{ID: id, Provider: tp, Kind: kind, Parent: a.ID, Repeat: repeatOf(tp)}
		if spec.ticketBudgets != nil {
			t.Budgets = spec.ticketBudgets(a, id)
		}
		out = append(out, t)
	}
	return out, nil
}

// repeatOf is p's Repeat(): every provider package states its repeat
// semantics; a provider without one is taken as issuing a new value per
// fetch (written as fetched, the safe default).
func repeatOf(p upstream.Provider) upstream.Repeat {
	if r, ok := p.(interface{ Repeat() upstream.Repeat }); ok {
		return r.Repeat()
	}
	return upstream.RepeatNew
}
