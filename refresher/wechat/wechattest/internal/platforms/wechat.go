package platforms

import (
	"net/http"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

func (h *handlers) wechatRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /cgi-bin/token", h.handleToken)
	mux.HandleFunc("POST /cgi-bin/stable_token", h.handleStableToken)
	mux.HandleFunc("POST /cgi-bin/clear_quota/v2", h.handleClearQuota)
	mux.HandleFunc("GET /cgi-bin/getcallbackip", func(w http.ResponseWriter, r *http.Request) {
		h.host.ServeProbe(w, r, CallbackIP, r.URL.Query().Get("access_token"),
			map[string][]string{"ip_list": {"101.226.103.0/25", "101.226.233.128/25", "58.247.206.128/25"}})
	})
	// GET /cgi-bin/ticket/getticket?access_token=&type=: the account's
	// ticket of that type, for its classic and stable tokens alike.
	mux.HandleFunc("GET /cgi-bin/ticket/getticket", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		kind := q.Get("type")
		if kind != KindJSAPI && kind != KindWxCard {
			kind = ""
		}
		h.host.ServeTicket(w, r, Ticket, q.Get("access_token"), kind)
	})
}

// decodeBody decodes the JSON body of r into b, or answers 47001.
func (h *handlers) decodeBody(w http.ResponseWriter, r *http.Request, b any) bool {
	if err := envelope.Decode(r, b); err != nil {
		h.env[ledger.PlatformWeChat].Fail(w, 47001)
		return false
	}
	return true
}

// TokenAnswer is the success body of WeChat's token endpoints.
type TokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// creds are the credentials of a token request.
type creds struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

// authLocked checks c and returns its app, or the errcode to answer;
// wrongSecret is the code for a secret that does not match.
func (h *handlers) authLocked(c creds, wrongSecret int) (*ledger.Account, int) {
	switch {
	case c.AppID == "":
		return nil, 41002
	case c.Secret == "":
		return nil, 41004
	case c.GrantType != "client_credential":
		return nil, 40002
	}
	a, ok := h.books.Apps[c.AppID]
	switch {
	case !ok:
		return nil, 40013
	case a.Secret != c.Secret:
		return nil, wrongSecret
	}
	return a, 0
}

func (h *handlers) handleToken(w http.ResponseWriter, r *http.Request) {
	if h.host.ApplyFault(w, r, Token) {
		return
	}
	q := r.URL.Query()
	c := creds{GrantType: q.Get("grant_type"), AppID: q.Get("appid"), Secret: q.Get("secret")}
	ans, code := h.fetchClassic(c)
	h.env[ledger.PlatformWeChat].Answer(w, ans, code)
}

func (h *handlers) fetchClassic(c creds) (TokenAnswer, int) {
	return h.fetch(c, 40001, Token, Token, func(now time.Time, a *ledger.Account) (string, int, int) {
		tok, exp := h.books.Classic(now, a)
		return tok, exp, 0
	})
}

// fetch answers a WeChat token call of family: it authenticates c
// (wrongSecret for a secret that does not match), takes a quota unit,
// then issue answers. Errcodes are audited under family, a success is
// counted as a fetch under key.
func (h *handlers) fetch(c creds, wrongSecret int, family, key string,
	issue func(now time.Time, a *ledger.Account) (tok string, expiresIn, code int),
) (TokenAnswer, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.books.Now()
	a, code := h.authLocked(c, wrongSecret)
	if code == 0 {
		code = h.books.TakeQuota(now, a, family)
	}
	var ans TokenAnswer
	if code == 0 {
		ans.AccessToken, ans.ExpiresIn, code = issue(now, a)
	}
	if code != 0 {
		h.auditErrorLocked(family, code)
		return TokenAnswer{}, code
	}
	h.books.Audit().CountFetch(a.ID, key)
	return ans, 0
}

func (h *handlers) handleStableToken(w http.ResponseWriter, r *http.Request) {
	if h.host.ApplyFault(w, r, Stable) {
		return
	}
	var c creds
	if err := envelope.Decode(r, &c); err != nil {
		h.mu.Lock()
		h.auditErrorLocked(Stable, 47001)
		h.mu.Unlock()
		h.env[ledger.PlatformWeChat].Fail(w, 47001)
		return
	}
	ans, code := h.fetchStable(c)
	h.env[ledger.PlatformWeChat].Answer(w, ans, code)
}

// fetchStable answers a stable call: the held token, or with
// force_refresh a new one within the force limits.
func (h *handlers) fetchStable(c creds) (TokenAnswer, int) {
	key := Stable
	if c.ForceRefresh {
		key = StableForce
	}
	return h.fetch(c, 40125, Stable, key, func(now time.Time, a *ledger.Account) (string, int, int) {
		if c.ForceRefresh {
			return h.books.Force(now, a)
		}
		tok, exp := h.books.Stable(now, a)
		return tok, exp, 0
	})
}

func (h *handlers) handleClearQuota(w http.ResponseWriter, r *http.Request) {
	if h.host.ApplyFault(w, r, ClearQuota) {
		return
	}
	var body struct {
		AppID     string `json:"appid"`
		AppSecret string `json:"appsecret"`
	}
	if h.decodeBody(w, r, &body) {
		h.env[ledger.PlatformWeChat].Answer(w, envelope.OK(map[string]any{}), h.clearQuota(body.AppID, body.AppSecret))
	}
}

func (h *handlers) clearQuota(appid, secret string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	a, code := h.authLocked(creds{GrantType: "client_credential", AppID: appid, Secret: secret}, 40125)
	if code != 0 {
		return code
	}
	return h.books.ClearQuota(h.books.Now(), a)
}
