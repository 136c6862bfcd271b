package compat

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/tokend/tokend/refresher/openplatform/keeper"
	"github.com/tokend/tokend/store"
	oplat "github.com/tokend/tokend/store/platform"
	"github.com/tokend/tokend/store/reader"
)

// The Open Platform's token calls, answered from the store in WeChat's
// shape, so that an Open Platform SDK pointed at tokend gets the kept
// tokens (README "WeChat-shaped routes"):
//
//	POST /cgi-bin/component/api_component_token {"component_appid","component_appsecret","component_verify_ticket"}
//	     -> {"component_access_token","expires_in"}
//	POST /cgi-bin/component/api_authorizer_token?component_access_token= {"component_appid","authorizer_appid","authorizer_refresh_token"}
//	     -> {"authorizer_access_token","expires_in","authorizer_refresh_token"}
//
// api_component_token authenticates like the app token routes: the
// component's real secret in component_appsecret, or a client key allowed
// token on the component; the verify ticket is ignored (tokend keeps the
// pushed one). api_authorizer_token authenticates by the component token
// presented, which must be the component's current one (or the one it
// replaced, within WeChat's 5-minute overlap): whoever holds it already
// passed api_component_token.
//
// The authorizer_refresh_token in the answer is the one tokend stores.
// It is a long-lived secret, and it is returned anyway: a holder of a
// valid component token can read every authorizer's refresh token from
// WeChat itself (api_get_authorizer_list), so the answer discloses
// nothing new; and SDKs store what comes back, so an empty or made-up
// value would break an SDK the day it calls WeChat directly. The refresh
// token in the request is ignored: never compared, never logged (an SDK's
// copy may predate a re-authorization tokend has seen).
//
// An authorizer tokend does not keep (never authorized, or unauthorized)
// answers 61023, as WeChat answers a refresh token that is no longer
// valid, and so does one without a valid token that needs
// re-authorization (the upstream answered 61023); one kept without a
// valid token yet answers -1 (the SDK retries).
// Nothing is ever fetched upstream.

// ComponentProvider is the provider of a component on these routes;
// httpapi.ComponentProvider is this constant.
const ComponentProvider = "wechat_component"

// codeRefreshTokenInvalid is WeChat's 61023.
const codeRefreshTokenInvalid = 61023

// componentRoutes are the Open Platform rows of the route table.
func (a *Routes) componentRoutes() []compatRoute {
	wx := wechatPlatform
	return []compatRoute{
		{"/cgi-bin/component/api_component_token", true, wx,
			[]string{"component_appid", "component_appsecret", "component_verify_ticket"}, nil, a.componentToken},
		{"/cgi-bin/component/api_authorizer_token", true, wx,
			[]string{"component_appid", "authorizer_appid", "authorizer_refresh_token"}, nil, a.authorizerToken},
	}
}

// componentToken serves api_component_token.
func (a *Routes) componentToken(w http.ResponseWriter, r *http.Request, in map[string]string) {
	p := wechatPlatform
	switch {
	case in["component_appid"] == "":
		p.fail(w, p.missingApp, "component_appid")
		return
	case in["component_appsecret"] == "":
		p.fail(w, p.missingSecret, "component_appsecret")
		return
	}
	cands := a.candidates(ComponentProvider, in["component_appid"], ComponentProvider)
	if c, _, ok := a.authApp(w, r, p, cands, in["component_appsecret"]); ok {
		a.compatServe(w, r, p, c.ID, func(tok reader.Token) any {
			return componentTokenBody{ComponentAccessToken: tok.Value, ExpiresIn: expiresIn(tok)}
		})
	}
}

// componentTokenBody is api_component_token's answer.
type componentTokenBody struct {
	ComponentAccessToken string `json:"component_access_token"`
	ExpiresIn            int64  `json:"expires_in"`
}

// authorizerTokenBody is api_authorizer_token's answer.
type authorizerTokenBody struct {
	AuthorizerAccessToken  string `json:"authorizer_access_token"`
	ExpiresIn              int64  `json:"expires_in"`
	AuthorizerRefreshToken string `json:"authorizer_refresh_token"`
}

// authorizerToken serves api_authorizer_token.
func (a *Routes) authorizerToken(w http.ResponseWriter, r *http.Request, in map[string]string) {
	p := wechatPlatform
	tok, code, hint := componentTokenParam(r)
	switch {
	case code != 0:
		p.fail(w, code, hint)
		return
	case in["component_appid"] == "":
		p.fail(w, p.missingApp, "component_appid")
		return
	case in["authorizer_appid"] == "":
		p.fail(w, p.missingApp, "authorizer_appid")
		return
	case !store.ValidApp(in["authorizer_appid"]):
		p.fail(w, p.badArgs, "authorizer_appid")
		return
	}
	cands := a.candidates(ComponentProvider, in["component_appid"], ComponentProvider)
	if len(cands) == 0 {
		p.fail(w, p.unknownApp, "component_appid")
		return
	}
	id, ok := a.index.lookup(r.Context(), tok)
	comp, found := App{}, false
	for _, c := range cands {
		if ok && c.ID == id {
			comp, found = c, true
		}
	}
	if !found {
		p.fail(w, p.unknownToken, "")
		return
	}
	a.serveAuthorizer(w, r, comp, in["authorizer_appid"])
}

// componentTokenParam reads component_access_token from the query: the
// token, or the errcode and hint to refuse with.
func componentTokenParam(r *http.Request) (string, int, string) {
	p := wechatPlatform
	if len(r.URL.RawQuery) > maxCompatQuery {
		return "", p.badArgs, "query too long"
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	switch {
	case err != nil:
		return "", p.badArgs, "query does not parse"
	case len(q["component_access_token"]) > 1:
		return "", p.badArgs, "repeated parameter component_access_token"
	case q.Get("component_access_token") == "":
		return "", p.missingToken, "component_access_token"
	}
	return q.Get("component_access_token"), 0, ""
}

// serveAuthorizer answers appid's token of comp with the refresh token
// stored with it.
func (a *Routes) serveAuthorizer(w http.ResponseWriter, r *http.Request, comp App, appid string) {
	p := wechatPlatform
	cid := oplat.AuthorizerID(comp.ID, appid)
	if a.authorizer == nil {
		p.fail(w, codeRefreshTokenInvalid, "tokend keeps no authorizers here")
		return
	}
	x, err := a.authorizer(r.Context(), comp.ID, appid)
	switch {
	case errors.Is(err, store.ErrNotFound):
		p.fail(w, codeRefreshTokenInvalid, "tokend keeps no such authorizer: authorize it (POST /v1/components/"+comp.ID+"/authorizations)")
		return
	case err != nil:
		a.compatBusy(w, r, p, cid, err)
		return
	}
	tok, err := a.tokens.Token(r.Context(), cid)
	switch {
	case errors.Is(err, reader.ErrNoToken) && a.needsReauthorization(r.Context(), cid):
		p.fail(w, codeRefreshTokenInvalid, "the account must authorize the platform again")
	case err != nil:
		a.compatBusy(w, r, p, cid, err)
	default:
		p.write(w, authorizerTokenBody{AuthorizerAccessToken: tok.Value, ExpiresIn: expiresIn(tok), AuthorizerRefreshToken: x.RefreshToken})
	}
}

// needsReauthorization reports whether the status of authorizer
// credential id says it waits for a re-authorization (61023 upstream).
func (a *Routes) needsReauthorization(ctx context.Context, id string) bool {
	if a.status == nil {
		return false
	}
	st, err := a.status(ctx, id)
	return err == nil && st.WaitingFor == keeper.WaitingReauthorization
}

// authorizerReader reads a stored authorizer (store.Store.Authorizer).
type authorizerReader = func(ctx context.Context, component, appid string) (oplat.Authorizer, error)
