package callback

import (
	"context"
	"errors"
	"time"

	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/platform"
)

// The calls any replica makes for the authorization page flow (served by
// httpapi under /v1/components/{id}): a pre_auth_code minted on demand,
// and the auth_code of the redirect exchanged and stored exactly as an
// authorized push is (exchange). Both use the component token stored in
// Redis; neither needs the leader.

// ErrNotKept: the component is not configured here, or keeps no
// authorizers (Component.Auth is nil).
var ErrNotKept = errors.New("callback: unknown component, or it keeps no authorizers")

// PreAuthCodes is what PreAuthCode needs of a Component's Auth
// (*openplatform.Component); an Auth without it: ErrNotKept.
type PreAuthCodes interface {
	CreatePreAuthCode(ctx context.Context, componentToken string) (openplatform.PreAuthCode, error)
}

// componentToken is the valid component token stored for component, or
// openplatform.ErrNoComponentToken.
func (h *Handler) componentToken(ctx context.Context, component string) (string, error) {
	rec, err := h.store.Record(ctx, component)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	if !rec.Valid() {
		return "", errNoComponentToken
	}
	return rec.Token, nil
}

// PreAuthCode mints a new pre_auth_code for component with
// api_create_preauthcode: one upstream call per call, nothing cached or
// stored.
func (h *Handler) PreAuthCode(ctx context.Context, component string) (openplatform.PreAuthCode, error) {
	c, ok := h.comps[component]
	pc, ok2 := c.Auth.(PreAuthCodes)
	if !ok || !ok2 {
		return openplatform.PreAuthCode{}, ErrNotKept
	}
	tok, err := h.componentToken(ctx, c.ID)
	if err != nil {
		return openplatform.PreAuthCode{}, err
	}
	return pc.CreatePreAuthCode(ctx, tok)
}

// Authorize exchanges code (the auth_code of the authorization redirect)
// with api_query_auth and stores the authorizer as an authorized push
// does, with authTime as its auth_time; logged and audited (action
// "auth_code"). The work runs to its end within Config.Timeout even when
// ctx is cancelled: an auth_code is single use, so one exchanged must be
// stored. The answer never holds the refresh token.
func (h *Handler) Authorize(ctx context.Context, component, code string, authTime time.Time) (platform.Authorizer, error) {
	c, ok := h.comps[component]
	if !ok || c.Auth == nil {
		return platform.Authorizer{}, ErrNotKept
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.timeout)
	defer cancel()
	a, err := h.exchange(ctx, c, code, authTime)
	id := c.ID
	if a.AppID != "" {
		id = platform.AuthorizerID(c.ID, a.AppID)
	}
	h.outcome(ctx, c, id, "auth_code", err)
	a.RefreshToken = ""
	return a, err
}
