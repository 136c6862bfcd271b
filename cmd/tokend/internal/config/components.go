package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/refresher/wechat/msgcrypt"
	"github.com/tokend/tokend/store"
)

// ComponentConfig is one Open Platform third-party platform ("component",
// README "Open Platform"). Its token is the credential <id>, in the same
// id space as apps; WeChat pushes its verify ticket to
// POST /callback/components/<id> on any replica.
type ComponentConfig struct {
	ID    string `yaml:"id"`
	AppID string `yaml:"appid"` // the component appid
	// The component_appsecret: exactly one of secret_env, secret_file
	// (re-read when the file changes) or secret (literal, warned about).
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	Secret     string `yaml:"secret"`
	// TokenEnv and AESKeyEnv name the environment variables holding the
	// message verification token and the 43-character EncodingAESKey set
	// on the platform. Required.
	TokenEnv  string `yaml:"token_env"`
	AESKeyEnv string `yaml:"aes_key_env"`
	// Tickets are the JS-SDK ticket kinds kept for every authorizer
	// (jsapi, wx_card), each the credential <id>/<appid>:<kind>.
	Tickets []string `yaml:"tickets"`
	BaseURL string   `yaml:"base_url"` // default wechat.DefaultBaseURL
	// StartPushAfter: with no new verify ticket for this long, the leader
	// calls api_start_push_ticket (at most every half of it, and at most
	// every 10m). Default 20m; 1s to 12h (tests compress it).
	StartPushAfter time.Duration `yaml:"start_push_after"`
	// AuthorizerRate bounds api_authorizer_token calls, a second. Default
	// 20; 0.1 to 1000.
	AuthorizerRate float64 `yaml:"authorizer_rate"`

	secret string          // resolved at start
	crypt  *msgcrypt.Crypt // from the token and the key
}

// ResolvedSecret is the component_appsecret Parse read.
func (c *ComponentConfig) ResolvedSecret() string { return c.secret }

// Crypt is the message crypto Parse built from token_env and aes_key_env.
func (c *ComponentConfig) Crypt() *msgcrypt.Crypt { return c.crypt }

// AsApp is c as an app, for the secret rules (and the secret_file
// watching) apps follow.
func (c *ComponentConfig) AsApp() AppConfig {
	return AppConfig{ID: c.ID, AppID: c.AppID, SecretEnv: c.SecretEnv, SecretFile: c.SecretFile, Secret: c.Secret, secret: c.secret}
}

// validateComponents checks components[] after apps: ids unique across
// apps and components, appid, secret, token and key present and valid.
// It appends its warnings to warnings.
func (c *Config) validateComponents(getenv func(string) string, readFile func(string) ([]byte, error), warnings []string) ([]string, error) {
	ids := map[string]string{}
	for i, a := range c.Apps {
		ids[a.ID] = fmt.Sprintf("apps[%d]", i)
	}
	appids := map[string]string{}
	for i := range c.Components {
		p := &c.Components[i]
		f := func(name string) string { return fmt.Sprintf("components[%d].%s", i, name) }
		switch {
		case !store.ValidApp(p.ID):
			return nil, fieldErr(f("id"), "%q must match [A-Za-z0-9_.-]{1,64}", p.ID)
		case ids[p.ID] != "":
			return nil, fieldErr(f("id"), "%q is already the id of %s: apps and components share one id space", p.ID, ids[p.ID])
		case strings.TrimSpace(p.AppID) == "":
			return nil, fieldErr(f("appid"), "required: the component appid")
		case appids[p.AppID] != "":
			return nil, fieldErr(f("appid"), "already the appid of %s: one platform is one component", appids[p.AppID])
		}
		ids[p.ID], appids[p.AppID] = fmt.Sprintf("components[%d]", i), fmt.Sprintf("components[%d]", i)
		if p.BaseURL == "" {
			p.BaseURL = wechat.DefaultBaseURL
		}
		if p.StartPushAfter == 0 {
			p.StartPushAfter = openplatform.DefaultStartPushAfter
		}
		if p.StartPushAfter < time.Second || p.StartPushAfter > 12*time.Hour {
			return nil, fieldErr(f("start_push_after"), "must be between 1s and 12h (a verify ticket lives 12h), got %s", p.StartPushAfter)
		}
		if err := p.validateAuthorizerRate(f); err != nil {
			return nil, err
		}
		for j, kind := range p.Tickets {
			if !slices.Contains(wechat.TicketKinds, kind) || slices.Index(p.Tickets, kind) != j {
				return nil, fieldErr(fmt.Sprintf("%s[%d]", f("tickets"), j), "want distinct kinds of %s, got %q", strings.Join(wechat.TicketKinds, " or "), kind)
			}
		}
		a := p.AsApp()
		w, err := a.resolveSecret(f, getenv, readFile)
		if err != nil {
			return nil, err
		}
		p.secret = a.secret
		if w != "" {
			warnings = append(warnings, w)
		}
		if p.crypt, err = p.newCrypt(f, getenv); err != nil {
			return nil, err
		}
	}
	return warnings, nil
}

// newCrypt builds the message crypto from token_env and aes_key_env.
func (p *ComponentConfig) newCrypt(f func(string) string, getenv func(string) string) (*msgcrypt.Crypt, error) {
	for _, e := range []struct{ field, env string }{{"token_env", p.TokenEnv}, {"aes_key_env", p.AESKeyEnv}} {
		switch {
		case e.env == "":
			return nil, fieldErr(f(e.field), "required: the name of an environment variable")
		case blank(getenv(e.env)):
			return nil, fieldErr(f(e.field), "environment variable %s is unset or blank", e.env)
		}
	}
	if _, err := msgcrypt.DecodeKey(getenv(p.AESKeyEnv)); err != nil {
		return nil, fieldErr(f("aes_key_env"), "the EncodingAESKey in %s %s", p.AESKeyEnv, err.Error())
	}
	c, err := msgcrypt.New(msgcrypt.Config{Token: getenv(p.TokenEnv), EncodingAESKey: getenv(p.AESKeyEnv), AppID: p.AppID})
	if err != nil {
		return nil, fieldErr(f("token_env"), "%s", strings.TrimPrefix(err.Error(), "msgcrypt: "))
	}
	return c, nil
}

// maxAuthorizerRate bounds components[].authorizer_rate (calls a second).
const maxAuthorizerRate = 1000

// validateAuthorizerRate checks components[].authorizer_rate; omitted (0)
// is the keeper's default (keeper.DefaultAuthorizerRate), which the
// keeper sets.
func (p *ComponentConfig) validateAuthorizerRate(f func(string) string) error {
	if p.AuthorizerRate != 0 && (p.AuthorizerRate < 0.1 || p.AuthorizerRate > maxAuthorizerRate) {
		return fieldErr(f("authorizer_rate"), "must be between 0.1 and %d calls a second, got %g", maxAuthorizerRate, p.AuthorizerRate)
	}
	return nil
}
