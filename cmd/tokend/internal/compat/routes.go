package compat

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Input bounds: tokens are at most 2048 bytes, ids and secrets far less.
const (
	maxCompatQuery = 4 << 10
	// compatRefreshWait bounds how long a stable_token force_refresh
	// waits for the new token before answering the current one: less than
	// the timeouts SDKs give their HTTP calls.
	compatRefreshWait = 5 * time.Second
	// maxBody caps a POST body, as httpapi caps its own.
	maxBody = 8 << 10
)

// compatRoute is one WeChat-shaped route.
type compatRoute struct {
	path string
	post bool // the upstream wants POST with a JSON body; else GET with a query
	p    *platform
	// params are the parameters the route reads. Others are ignored, as
	// the upstreams ignore them: SDKs send their own (PowerWeChat adds
	// neededText= to the token call). One of params given twice is refused.
	params []string
	// bools are the params that are JSON booleans (POST only).
	bools []string
	serve func(w http.ResponseWriter, r *http.Request, in map[string]string)
}

// compatRoutes is the table of the README's "WeChat-shaped routes".
func (a *Routes) compatRoutes() []compatRoute {
	wx, wc, fs, dt := wechatPlatform, wecomPlatform, feishuPlatform, dingtalkPlatform
	return []compatRoute{
		{"/cgi-bin/token", false, wx, []string{"grant_type", "appid", "secret"}, nil, a.wechatToken("wechat")},
		{"/cgi-bin/stable_token", true, wx, []string{"grant_type", "appid", "secret", "force_refresh"}, []string{"force_refresh"}, a.wechatToken("wechat_stable")},
		{"/cgi-bin/ticket/getticket", false, wx, []string{"access_token", "type"}, nil, a.compatTicket(wx, "type", "jsapi", "wx_card")},
		{"/cgi-bin/gettoken", false, wc, []string{"corpid", "corpsecret"}, nil, a.secretToken(wc, "wecom", "corpid", "corpsecret")},
		{"/cgi-bin/get_jsapi_ticket", false, wc, []string{"access_token"}, nil, a.compatTicket(wc, "", "jsapi")},
		{"/cgi-bin/ticket/get", false, wc, []string{"access_token", "type"}, nil, a.compatTicket(wc, "type", "agent_config")},
		{"/open-apis/auth/v3/tenant_access_token/internal", true, fs, []string{"app_id", "app_secret"}, nil, a.secretToken(fs, "feishu", "app_id", "app_secret")},
		{"/gettoken", false, dt, []string{"appkey", "appsecret"}, nil, a.secretToken(dt, "dingtalk", "appkey", "appsecret")},
		{"/get_jsapi_ticket", false, dt, []string{"access_token"}, nil, a.compatTicket(dt, "", "jsapi")},
	}
}

// compatHandler checks the method and reads the parameters of rt, then
// serves it.
func compatHandler(rt compatRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isGET := r.Method == http.MethodGet || r.Method == http.MethodHead
		switch {
		case rt.post && r.Method != http.MethodPost:
			rt.p.fail(w, rt.p.needPOST, "")
			return
		case !rt.post && !isGET:
			rt.p.fail(w, rt.p.needGET, "")
			return
		}
		read := readQuery
		if rt.post {
			read = readJSONBody
		}
		in, code, hint := read(w, r, rt)
		if code != 0 {
			rt.p.fail(w, code, hint)
			return
		}
		rt.serve(w, r, in)
	})
}

// readQuery reads rt's parameters from the query: an oversized query, one
// that does not parse or that repeats one of rt's parameters is refused;
// other parameters are ignored.
func readQuery(_ http.ResponseWriter, r *http.Request, rt compatRoute) (map[string]string, int, string) {
	if len(r.URL.RawQuery) > maxCompatQuery {
		return nil, rt.p.badArgs, fmt.Sprintf("query longer than %d bytes", maxCompatQuery)
	}
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, rt.p.badArgs, "query does not parse"
	}
	in := make(map[string]string, len(rt.params))
	for k, vs := range vals {
		if !slices.Contains(rt.params, k) {
			continue // ignored, as the upstream ignores it
		}
		if len(vs) > 1 {
			return nil, rt.p.badArgs, "repeated parameter " + k
		}
		in[k] = vs[0]
	}
	return in, 0, ""
}

// readJSONBody reads rt's parameters from a JSON object body of at most
// maxBody bytes: strings, and booleans for rt.bools. A key given twice is
// refused; other fields are ignored.
func readJSONBody(w http.ResponseWriter, r *http.Request, rt compatRoute) (map[string]string, int, string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, rt.p.badArgs, fmt.Sprintf("body longer than %d bytes", maxBody)
	case err != nil:
		return nil, rt.p.badBody, ""
	case len(bytes.TrimSpace(body)) == 0:
		return nil, rt.p.emptyBody, ""
	}
	fields, err := decodeFlatObject(body)
	var dup duplicateKeyError
	switch {
	case errors.As(err, &dup):
		return nil, rt.p.badArgs, "repeated field " + paramName(string(dup))
	case err != nil:
		return nil, rt.p.badBody, "want a JSON object"
	}
	in := make(map[string]string, len(rt.params))
	for k, v := range fields {
		if !slices.Contains(rt.params, k) {
			continue // ignored, as the upstream ignores it
		}
		isBool := slices.Contains(rt.bools, k)
		switch v := v.(type) {
		case string:
			if !isBool {
				in[k] = v
				continue
			}
		case bool:
			if isBool {
				in[k] = fmt.Sprint(v)
				continue
			}
		}
		return nil, rt.p.badBody, "wrong type of " + k
	}
	return in, 0, ""
}

var plainName = regexp.MustCompile(`^[A-Za-z0-9_]{1,32}$`)

// paramName quotes a field name from the request for an answer, or says
// only that it was odd: a value pasted where a name goes is never echoed.
func paramName(name string) string {
	if plainName.MatchString(name) {
		return `"` + name + `"`
	}
	return "(name not shown)"
}

// duplicateKeyError names a key a JSON object holds twice.
type duplicateKeyError string

func (e duplicateKeyError) Error() string { return "duplicate key " + string(e) }

// decodeFlatObject decodes one JSON object (nothing after it) whose
// values it returns as decoded by encoding/json; a key given twice is a
// duplicateKeyError.
func decodeFlatObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	out := map[string]any{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := out[key]; dup {
			return nil, duplicateKeyError(key)
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return out, nil
}

// family names the accounts of a provider on the compat routes: both
// WeChat providers answer /cgi-bin/token and /cgi-bin/stable_token.
func family(provider string) string {
	if provider == "wechat_stable" {
		return "wechat"
	}
	return provider
}

// compatAccounts indexes apps by family and appid, in config order.
func compatAccounts(apps []App) map[string][]App {
	out := map[string][]App{}
	for _, a := range apps {
		k := family(a.Provider) + "\x00" + strings.TrimSpace(a.AppID)
		out[k] = append(out[k], a)
	}
	return out
}

// candidates are the apps of fam configured with appid, those of provider
// prefer first.
func (a *Routes) candidates(fam, appid, prefer string) []App {
	apps := slices.Clone(a.accounts[fam+"\x00"+appid])
	slices.SortStableFunc(apps, func(x, y App) int {
		return boolInt(x.Provider != prefer) - boolInt(y.Provider != prefer)
	})
	return apps
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// authApp returns the first of cands whose secret is secret, comparing
// SHA-256 digests in constant time with every candidate, or else the
// first candidate a client key in the secret field allows (clientKey);
// byKey says which. None configured: p's unknown-app answer; none
// matching: its wrong-secret answer, counted for each candidate. The
// secret is never logged.
func (a *Routes) authApp(w http.ResponseWriter, r *http.Request, p *platform, cands []App, secret string) (app App, byKey, ok bool) {
	if len(cands) == 0 {
		p.fail(w, p.unknownApp, "")
		return App{}, false, false
	}
	got := sha256.Sum256([]byte(secret))
	found := -1
	for i, c := range cands {
		if c.Secret == nil {
			continue
		}
		want := sha256.Sum256([]byte(c.Secret()))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 && found < 0 {
			found = i
		}
	}
	if found >= 0 {
		return cands[found], false, true
	}
	if a.clientKey != nil {
		ids := make([]string, len(cands))
		for i, c := range cands {
			ids[i] = c.ID
		}
		if id, ok := a.clientKey(r, secret, ids, "token"); ok {
			return a.byID[id], true, true
		}
	}
	for _, c := range cands {
		a.wrongSecret(c.ID)
	}
	p.fail(w, p.wrongSecret, "")
	return App{}, false, false
}
