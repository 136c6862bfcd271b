package callback

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/platform"
)

// Authorizations is what the handler needs of openplatform.Component.
type Authorizations interface {
	QueryAuth(ctx context.Context, componentToken, code string) (openplatform.Grant, error)
}

// errNoComponentToken: no valid component token is stored to call
// api_query_auth with.
var errNoComponentToken = openplatform.ErrNoComponentToken

// authorization acts on an authorization event within the timeout and
// answers "success" (a failure is logged and audited: a retry of the push
// would fail the same way).
func (h *Handler) authorization(w http.ResponseWriter, r *http.Request, c Component, msg message) {
	appid := msg.AuthorizerAppID
	if !store.ValidApp(appid) {
		text(w, http.StatusBadRequest, "authorization event without a valid AuthorizerAppid")
		return
	}
	if c.Auth == nil {
		h.log.Info("callback: authorization event received (authorizers not kept)", "component", c.ID, "info_type", msg.InfoType, "authorizer_appid", appid)
		text(w, http.StatusOK, "success")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.timeout)
	defer cancel()
	id := platform.AuthorizerID(c.ID, appid)
	if msg.InfoType == "unauthorized" {
		removed, err := h.store.RemoveAuthorizer(ctx, c.ID, appid, c.Kinds)
		h.outcome(ctx, c, id, "unauthorized", err, "removed", removed)
		text(w, http.StatusOK, "success")
		return
	}
	err := h.authorize(ctx, c, appid, msg)
	h.outcome(ctx, c, id, msg.InfoType, err)
	text(w, http.StatusOK, "success")
}

// authorize exchanges the code of an authorization event and stores the
// authorizer.
func (h *Handler) authorize(ctx context.Context, c Component, appid string, msg message) error {
	if msg.AuthCode == "" {
		return errors.New("callback: authorization event without AuthorizationCode")
	}
	a, err := h.exchange(ctx, c, msg.AuthCode, time.Unix(msg.CreateTime, 0))
	if err == nil && a.AppID != appid {
		h.log.Warn("callback: api_query_auth answered another authorizer than the push named; the answer is stored",
			"component", c.ID, "pushed", appid, "answered", a.AppID)
	}
	return err
}

// outcome logs and audits what an authorization event did.
func (h *Handler) outcome(ctx context.Context, c Component, id, action string, err error, args ...any) {
	outcome, code := "ok", 0
	if err != nil {
		outcome = "failed"
		if errors.Is(err, errNoComponentToken) {
			outcome = "no_component_token"
		}
		var ue *upstream.Error
		if errors.As(err, &ue) {
			code = ue.Code
		}
		h.warn(ctx, "authorization\x00"+c.ID+"\x00"+outcome, "callback: authorization event not applied", append([]any{"component", c.ID, "authorizer", id, "info_type", action, "err", err}, args...)...)
	} else {
		h.log.Info("callback: authorization event applied", append([]any{"component", c.ID, "authorizer", id, "info_type", action}, args...)...)
	}
	if h.audit != nil {
		h.audit(fleet.AuditEntry{App: id, Action: action, Outcome: outcome, Errcode: code})
	}
}
