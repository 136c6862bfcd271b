package compat

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/tokend/tokend/store/reader"
)

// wechatToken serves GET /cgi-bin/token (prefer "wechat") and POST
// /cgi-bin/stable_token (prefer "wechat_stable") for the WeChat app with
// that appid; either provider answers either route, the preferred one
// first when an appid is configured under both. force_refresh: true is a
// compare-and-refresh report of the current token (forceRefresh).
func (a *Routes) wechatToken(prefer string) func(http.ResponseWriter, *http.Request, map[string]string) {
	p := wechatPlatform
	return func(w http.ResponseWriter, r *http.Request, in map[string]string) {
		switch {
		case in["appid"] == "":
			p.fail(w, p.missingApp, "")
			return
		case in["secret"] == "":
			p.fail(w, p.missingSecret, "")
			return
		case in["grant_type"] != "client_credential":
			p.fail(w, 40002, "")
			return
		}
		app, byKey, ok := a.authApp(w, r, p, a.candidates("wechat", in["appid"], prefer), in["secret"])
		if !ok {
			return
		}
		if in["force_refresh"] == "true" && (!byKey || a.mayRefresh(r, in["secret"], app)) {
			a.forceRefresh(w, r, p, app)
			return
		}
		a.compatServe(w, r, p, app.ID, wechatTokenAnswer)
	}
}

func wechatTokenAnswer(tok reader.Token) any {
	return wechatTokenBody{AccessToken: tok.Value, ExpiresIn: expiresIn(tok)}
}

func okTokenAnswer(tok reader.Token) any {
	return okTokenBody{Errmsg: "ok", AccessToken: tok.Value, ExpiresIn: expiresIn(tok)}
}

func feishuTokenAnswer(tok reader.Token) any {
	exp := expiresIn(tok)
	return feishuBody{Msg: "ok", TenantAccessToken: tok.Value, Expire: &exp}
}

// secretToken serves the token route of WeCom (corpid, corpsecret),
// Feishu (app_id, app_secret) or DingTalk (appkey, appsecret): the app of
// that provider with that id and secret. A WeCom corp has one app per
// secret, so the secret picks among the corp's apps.
func (a *Routes) secretToken(p *platform, provider, idParam, secretParam string) func(http.ResponseWriter, *http.Request, map[string]string) {
	answer := okTokenAnswer
	if provider == "feishu" {
		answer = feishuTokenAnswer
	}
	return func(w http.ResponseWriter, r *http.Request, in map[string]string) {
		switch {
		case in[idParam] == "":
			p.fail(w, p.missingApp, idParam)
			return
		case in[secretParam] == "":
			p.fail(w, p.missingSecret, secretParam)
			return
		}
		if app, _, ok := a.authApp(w, r, p, a.candidates(provider, in[idParam], provider), in[secretParam]); ok {
			a.compatServe(w, r, p, app.ID, answer)
		}
	}
}

// mayRefresh reports whether client key may force a refresh of app's
// token (action refresh, within its rate); if not, force_refresh answers
// the current token.
func (a *Routes) mayRefresh(r *http.Request, key string, app App) bool {
	_, ok := a.clientKey(r, key, []string{app.ID}, "refresh")
	return ok
}

// compatServe answers the current value of credential id with answer, or
// p's busy refusal when there is none (the SDK retries).
func (a *Routes) compatServe(w http.ResponseWriter, r *http.Request, p *platform, id string, answer func(reader.Token) any) {
	tok, err := a.tokens.Token(r.Context(), id)
	if err != nil {
		a.compatBusy(w, r, p, id, err)
		return
	}
	p.write(w, answer(tok))
}

func (a *Routes) compatBusy(w http.ResponseWriter, r *http.Request, p *platform, id string, err error) {
	if !errors.Is(err, reader.ErrNoToken) {
		a.warn(r.Context(), "api: compat read failed", "app", id, "err", err)
	}
	p.fail(w, p.busy, "")
}

// forceRefresh answers stable_token's force_refresh: a compare-and-refresh
// report of the app's current token (the cooldown applies), never an
// upstream force: the new token if it arrives within compatRefreshWait,
// else the current one while it is valid.
func (a *Routes) forceRefresh(w http.ResponseWriter, r *http.Request, p *platform, app App) {
	cur, err := a.tokens.Token(r.Context(), app.ID)
	if err != nil {
		a.compatBusy(w, r, p, app.ID, err)
		return
	}
	if tok, ok := a.refresh(r.Context(), app.ID, cur.Value, compatRefreshWait); ok {
		p.write(w, wechatTokenAnswer(tok))
		return
	}
	a.compatServe(w, r, p, app.ID, wechatTokenAnswer)
}

// compatTicket serves a ticket route of p: the ticket of kind (from the
// typeParam parameter when it is set, else the only one of kinds) of the
// app whose current or overlapping previous access token is presented.
// The token must be of an app of p's platform.
func (a *Routes) compatTicket(p *platform, typeParam string, kinds ...string) func(http.ResponseWriter, *http.Request, map[string]string) {
	return func(w http.ResponseWriter, r *http.Request, in map[string]string) {
		tok := in["access_token"]
		if tok == "" {
			p.fail(w, p.missingToken, "")
			return
		}
		id, ok := a.index.lookup(r.Context(), tok)
		app := a.byID[id]
		if !ok || family(app.Provider) != p.name || len(app.Tickets) == 0 { // Config.IndexAll indexes apps without tickets
			p.fail(w, p.unknownToken, "")
			return
		}
		kind := kinds[0]
		if typeParam != "" {
			kind = in[typeParam]
		}
		switch {
		case !slices.Contains(kinds, kind):
			p.fail(w, p.badArgs, typeParam)
			return
		case !slices.Contains(app.Tickets, kind):
			p.fail(w, p.badArgs, "tokend keeps no "+kind+" ticket for this app (add it to apps[].tickets)")
			return
		}
		a.compatServe(w, r, p, app.ID+":"+kind, func(t reader.Token) any {
			return okTicketBody{Errmsg: "ok", Ticket: t.Value, ExpiresIn: expiresIn(t)}
		})
	}
}

// expiresIn is the remaining life of tok in whole seconds.
func expiresIn(tok reader.Token) int64 {
	return max(int64(time.Until(tok.ExpiresAt)/time.Second), 0)
}
