package openplatform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/platform"
)

// CodeNeedsReauthorization is WeChat's 61023: the authorizer refresh
// token is invalid (the account deauthorized, or it was replaced by a
// re-authorization). Only a new authorization helps; retrying does not.
const CodeNeedsReauthorization = 61023

// MaxListPage is the largest page api_get_authorizer_list answers.
const MaxListPage = 500

// listMaxBody bounds one list page: 500 entries of a few hundred bytes.
const listMaxBody = 1 << 20

// NeedsReauthorization reports whether err is the upstream's 61023.
func NeedsReauthorization(err error) bool {
	var ue *upstream.Error
	return errors.As(err, &ue) && ue.Code == CodeNeedsReauthorization
}

// Grant is an authorizer's token with the refresh token that came with
// it. String never shows either.
type Grant struct {
	AppID string
	Token upstream.Token
	// RefreshToken is the authorizer_refresh_token: a secret, to be stored
	// (store.WriteAuthorizerToken) before the token is used.
	RefreshToken string
	// FuncInfo is the granted permission sets (api_query_auth only).
	FuncInfo json.RawMessage
}

func (g Grant) String() string {
	return fmt.Sprintf("grant(%s, %s, refresh_token=%s)", g.AppID, g.Token, store.Fingerprint(g.RefreshToken))
}

// GoString is String, so that %#v never shows a secret.
func (g Grant) GoString() string { return g.String() }

// grantAnswer is the token part of api_query_auth's authorization_info
// and of api_authorizer_token's answer.
type grantAnswer struct {
	AppID        string          `json:"authorizer_appid"`
	AccessToken  string          `json:"authorizer_access_token"`
	ExpiresIn    json.Number     `json:"expires_in"`
	RefreshToken string          `json:"authorizer_refresh_token"`
	FuncInfo     json.RawMessage `json:"func_info"`
}

// grant validates a and returns it as a Grant for appid.
func (p *Component) grant(a grantAnswer, appid string) (Grant, error) {
	if err := upstream.ValidateValue("authorizer_access_token", a.AccessToken); err != nil {
		return Grant{}, err
	}
	if err := upstream.ValidateValue("authorizer_refresh_token", a.RefreshToken); err != nil {
		return Grant{}, err
	}
	d, err := upstream.ParseExpiresIn("expires_in", a.ExpiresIn, p.c.MinExpiresIn())
	if err != nil {
		return Grant{}, err
	}
	if !store.ValidApp(appid) {
		return Grant{}, &upstream.Error{Message: "authorizer_appid missing or not an appid", Class: upstream.ClassRetry}
	}
	return Grant{AppID: appid, Token: upstream.Token{Value: a.AccessToken, ExpiresIn: d}, RefreshToken: a.RefreshToken, FuncInfo: a.FuncInfo}, nil
}

// withComponentToken is a call authenticated by the component token in
// the component_access_token query parameter (redacted from errors).
func (p *Component) withComponentToken(op, componentToken string, body any) upstream.Call {
	return upstream.Call{
		Op: op, Method: http.MethodPost, Path: "/cgi-bin/component/" + op,
		Query: url.Values{"component_access_token": {componentToken}}, Secret: componentToken,
		JSON: body, Shape: p.pushSh,
	}
}

// QueryAuth calls api_query_auth with an authorization code (from an
// authorized or updateauthorized push, or the authorization redirect):
// the authorizer's first token, its refresh token and func_info.
func (p *Component) QueryAuth(ctx context.Context, componentToken, code string) (Grant, error) {
	if componentToken == "" || code == "" {
		return Grant{}, &upstream.Error{Message: "api_query_auth needs a component token and an authorization code", Class: upstream.ClassInput}
	}
	var ans struct {
		Info grantAnswer `json:"authorization_info"`
	}
	body := map[string]string{"component_appid": p.appID, "authorization_code": code}
	if err := p.c.Decode(ctx, p.withComponentToken("api_query_auth", componentToken, body), &ans); err != nil {
		return Grant{}, err
	}
	return p.grant(ans.Info, ans.Info.AppID)
}

// AuthorizerToken calls api_authorizer_token for appid with its stored
// refresh token: a new token and the refresh token to store with it (the
// same one, or a new one). 61023 (NeedsReauthorization): the refresh
// token is no longer valid.
func (p *Component) AuthorizerToken(ctx context.Context, componentToken, appid, refreshToken string) (Grant, error) {
	if componentToken == "" || refreshToken == "" {
		return Grant{}, &upstream.Error{Message: "api_authorizer_token needs a component token and a refresh token", Class: upstream.ClassInput}
	}
	var ans grantAnswer
	body := map[string]string{"component_appid": p.appID, "authorizer_appid": appid, "authorizer_refresh_token": refreshToken}
	call := p.withComponentToken("api_authorizer_token", componentToken, body)
	if err := p.c.Decode(ctx, call, &ans); err != nil {
		return Grant{}, err
	}
	return p.grant(ans, appid)
}

// AuthorizerList calls api_get_authorizer_list for one page (count <=
// MaxListPage): the total and the page's authorizers with their refresh
// tokens. Entries without an appid or refresh token are dropped
// (counted in dropped).
func (p *Component) AuthorizerList(ctx context.Context, componentToken string, offset, count int) (total int, list []platform.Authorizer, dropped int, err error) {
	if count <= 0 || count > MaxListPage || offset < 0 {
		return 0, nil, 0, fmt.Errorf("openplatform: api_get_authorizer_list: count must be 1..%d and offset >= 0", MaxListPage)
	}
	var ans struct {
		Total int `json:"total_count"`
		List  []struct {
			AppID        string `json:"authorizer_appid"`
			RefreshToken string `json:"refresh_token"`
			AuthTime     int64  `json:"auth_time"`
		} `json:"list"`
	}
	body := map[string]any{"component_appid": p.appID, "offset": offset, "count": count}
	call := p.withComponentToken("api_get_authorizer_list", componentToken, body)
	call.MaxBody = listMaxBody
	if err := p.c.Decode(ctx, call, &ans); err != nil {
		return 0, nil, 0, err
	}
	for _, e := range ans.List {
		if !store.ValidApp(e.AppID) || upstream.ValidateValue("refresh_token", e.RefreshToken) != nil {
			dropped++
			continue
		}
		a := platform.Authorizer{AppID: e.AppID, RefreshToken: e.RefreshToken}
		if e.AuthTime > 0 {
			a.AuthTime = time.Unix(e.AuthTime, 0)
		}
		list = append(list, a)
	}
	return ans.Total, list, dropped, nil
}
