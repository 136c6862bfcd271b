package components

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode"

	"github.com/tokend/tokend/cmd/tokend/internal/callback"
	"github.com/tokend/tokend/cmd/tokend/internal/compat"
	"github.com/tokend/tokend/cmd/tokend/internal/errcodes"
	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store/platform"
)

// The Open Platform authorization page flow, on any replica:
//
//	POST /v1/components/{id}/preauthcode       {"pre_auth_code","expires_in"}: minted by api_create_preauthcode
//	POST /v1/components/{id}/authorizations    {"auth_code"} -> the authorizer stored: {"component","appid","status","expires_at","auth_time"}
//
// Each request makes one upstream call with the component token stored in
// Redis (these are the only /v1 routes that call the upstream); a
// pre_auth_code is never cached or stored. Without a valid component
// token: 503, no call. An auth_code is exchanged (api_query_auth) and the
// authorizer stored exactly as an authorized push is (Config.Callback's
// Authorize); the answer never holds a token or the refresh token.
//
// Client scope: action token on the component id. A client allowed to
// read the component token can make both upstream calls itself, so the
// routes grant it nothing it does not have; and the auth_code is proof
// from WeChat that an administrator authorized the platform.

// Platform makes the page flow's upstream calls (*callback.Handler);
// without it (Config.Platform nil) the routes answer 404.
type Platform interface {
	PreAuthCode(ctx context.Context, component string) (openplatform.PreAuthCode, error)
	Authorize(ctx context.Context, component, code string, authTime time.Time) (platform.Authorizer, error)
}

// maxAuthCode bounds an auth_code (WeChat's are about 100 bytes).
const maxAuthCode = 512

// WeChat's errcodes for an authorization code that is invalid (61009) or
// expired or used (61010): the caller's input, answered 400.
const (
	codeAuthCodeInvalid = 61009
	codeAuthCodeExpired = 61010
)

// pageFlow returns the known component of the request and the Platform,
// or answers 404.
func (rt *Routes) pageFlow(w http.ResponseWriter, r *http.Request) (string, Platform, bool) {
	id, ok := rt.knownComponent(w, r)
	if !ok {
		return "", nil, false
	}
	if rt.platform == nil {
		rt.api.Error(w, http.StatusNotFound, "authorizers are not kept")
		return "", nil, false
	}
	return id, rt.platform, true
}

func (rt *Routes) preAuthCode(w http.ResponseWriter, r *http.Request) {
	id, p, ok := rt.pageFlow(w, r)
	if !ok {
		return
	}
	code, err := p.PreAuthCode(r.Context(), id)
	if err != nil {
		rt.platformError(w, r, id, "api_create_preauthcode", err)
		return
	}
	rt.api.JSON(w, http.StatusOK, map[string]any{"pre_auth_code": code.Value, "expires_in": int64(code.ExpiresIn / time.Second)})
}

func (rt *Routes) authorization(w http.ResponseWriter, r *http.Request) {
	id, p, ok := rt.pageFlow(w, r)
	if !ok {
		return
	}
	var body struct {
		AuthCode string `json:"auth_code"`
	}
	usage := `want a JSON body {"auth_code":"<the auth_code of the authorization redirect>"}`
	if !rt.api.DecodeBody(w, r, &body, usage) {
		return
	}
	if msg := checkAuthCode(body.AuthCode); msg != "" {
		rt.api.Error(w, http.StatusBadRequest, msg)
		return
	}
	x, err := p.Authorize(r.Context(), id, body.AuthCode, time.Now())
	if err != nil {
		rt.platformError(w, r, id, "api_query_auth", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Second)
	defer cancel()
	row := rt.authorizerRow(ctx, id, x)
	if row.Status == "expired" && row.LastError == "" {
		row.Status = "pending" // the leader fetches its first token now
	}
	rt.api.JSON(w, http.StatusOK, map[string]any{"component": id, "appid": row.AppID, "status": row.Status,
		"expires_at": row.ExpiresAt, "auth_time": row.AuthTime})
}

// checkAuthCode says what is wrong with an auth_code ("" when nothing):
// a value is never echoed.
func checkAuthCode(code string) string {
	if code == "" || len(code) > maxAuthCode {
		return fmt.Sprintf("auth_code must be 1..%d bytes", maxAuthCode)
	}
	for _, c := range code {
		if unicode.IsSpace(c) || unicode.IsControl(c) || c == unicode.ReplacementChar {
			return "auth_code contains whitespace, control or invalid characters"
		}
	}
	return ""
}

// platformError answers a failed page-flow call: 503 without a valid
// component token or with Redis down, 400 for an auth_code the upstream
// refused, 502 naming the errcode for any other upstream refusal or a
// failed call. Never a token or code.
func (rt *Routes) platformError(w http.ResponseWriter, r *http.Request, id, op string, err error) {
	var ue *upstream.Error
	switch {
	case errors.Is(err, callback.ErrCodeBusy):
		w.Header().Set("Retry-After", "1")
		rt.api.Error(w, http.StatusServiceUnavailable, "another delivery of this auth_code is being exchanged (the authorized push, or another replica); retry: the answer is its result")
	case errors.Is(err, openplatform.ErrNoComponentToken):
		rt.api.Error(w, http.StatusServiceUnavailable, "no valid component token: the component waits for a component_verify_ticket (see GET /v1/status)")
	case op == "api_query_auth" && errors.As(err, &ue) && (ue.Code == codeAuthCodeInvalid || ue.Code == codeAuthCodeExpired):
		rt.api.JSON(w, http.StatusBadRequest, platformRefusal{
			Error: fmt.Sprintf("%s refused the auth_code (errcode %d): invalid, used or expired (a code tokend "+
				"exchanged itself, by the authorized push or an earlier request, is answered from Redis for an hour); start the authorization again", op, ue.Code),
			Errcode: ue.Code})
	case errors.As(err, &ue) && ue.Code != 0:
		rt.api.JSON(w, http.StatusBadGateway, platformRefusal{
			Error: fmt.Sprintf("%s refused (errcode %d)", op, ue.Code), Errcode: ue.Code, ErrorHelp: errcodes.Help(compat.ComponentProvider, ue.Code)})
	case errors.As(err, &ue):
		rt.api.Warn(r.Context(), "api: "+op+" failed", "component", id, "err", err)
		rt.api.Error(w, http.StatusBadGateway, op+" failed: the upstream did not answer, or answered badly")
	default:
		rt.api.Warn(r.Context(), "api: "+op+" failed", "component", id, "err", err)
		rt.api.Error(w, http.StatusServiceUnavailable, "redis unavailable")
	}
}

// platformRefusal is an upstream refusal of a page-flow call.
type platformRefusal struct {
	Error     string `json:"error"`
	Errcode   int    `json:"errcode"`
	ErrorHelp string `json:"error_help,omitempty"`
}
