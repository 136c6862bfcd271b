package callback

import (
	"context"
	"time"

	"github.com/tokend/tokend/store/platform"
)

// One authorization, two deliveries: WeChat pushes "authorized" with an
// AuthorizationCode and redirects the administrator with the same code as
// auth_code (Handler.Authorize), to any replicas, in any order, possibly
// at the same moment; api_query_auth accepts a code once (61010 after).
// exchange remembers each successful exchange in Redis for the code's
// life (platform.AuthCodeLifetime, keyed by the code's SHA-256), so the
// second delivery answers the stored authorizer with no upstream call;
// one refused by the upstream while the other is in flight waits for it
// (within the timeout). The code never appears in a key, log or error.

// CodeStore is what exchange needs of *platform.Store for exchanged codes.
type CodeStore interface {
	ExchangedCode(ctx context.Context, component, code string) (platform.ExchangedCode, error)
	ClaimCode(ctx context.Context, component, code string, ttl time.Duration) (string, error)
	ReleaseCode(ctx context.Context, component, code, claim string) error
	RememberCode(ctx context.Context, component, code, appid string) error
}

// pollInterval is how often a refused delivery re-reads a code that
// another exchange has claimed.
const pollInterval = 20 * time.Millisecond

// step is what exchange does next with a code.
type step int

const (
	stepAnswer step = iota // the code was exchanged: answer its authorizer
	stepCall               // call api_query_auth
	stepWait               // refused while another exchange is in flight: read again
	stepFail               // answer the call's error
)

// decide is the next step for a code read as x; called: api_query_auth
// was called and failed. A claim seen before the call does not stop it
// (the upstream, which accepts a code once, decides), so a claim left by
// a dead replica costs nothing.
func decide(x platform.ExchangedCode, called bool) step {
	switch {
	case x.Done:
		return stepAnswer
	case !called:
		return stepCall
	case x.Pending:
		return stepWait
	default:
		return stepFail
	}
}

// exchange answers the authorizer code was exchanged for: the stored one
// when code was already exchanged (no upstream call); otherwise it calls
// api_query_auth with the component token stored in Redis, stores the
// authorizer it answers and remembers the code. A failed call is answered
// by an exchange of the same code that finished meanwhile, if any. ctx
// must have a deadline (the wait ends with it).
func (h *Handler) exchange(ctx context.Context, c Component, code string, authTime time.Time) (platform.Authorizer, error) {
	if a, ok := h.exchanged(ctx, c.ID, code, false); ok {
		return a, nil
	}
	tok, err := h.componentToken(ctx, c.ID)
	if err != nil {
		return platform.Authorizer{}, err
	}
	// A claim is advisory: when Redis refuses it the call is made anyway.
	claim, _ := h.store.ClaimCode(ctx, c.ID, code, h.timeout)
	a, err := h.queryAndStore(ctx, c, tok, code, authTime)
	if err != nil {
		if claim != "" {
			_ = h.store.ReleaseCode(ctx, c.ID, code, claim) // else it expires with the timeout
		}
		if prev, ok := h.exchanged(ctx, c.ID, code, true); ok {
			return prev, nil
		}
		return platform.Authorizer{}, err
	}
	if err := h.store.RememberCode(ctx, c.ID, code, a.AppID); err != nil {
		h.warn(ctx, "remember\x00"+c.ID, "callback: exchanged code not remembered; its second delivery will be refused by the upstream",
			"component", c.ID, "authorizer", platform.AuthorizerID(c.ID, a.AppID), "err", err)
	}
	return a, nil
}

// queryAndStore calls api_query_auth and stores the authorizer.
func (h *Handler) queryAndStore(ctx context.Context, c Component, tok, code string, authTime time.Time) (platform.Authorizer, error) {
	g, err := c.Auth.QueryAuth(ctx, tok, code)
	if err != nil {
		return platform.Authorizer{}, err
	}
	a := platform.Authorizer{AppID: g.AppID, RefreshToken: g.RefreshToken, AuthTime: authTime, FuncInfo: g.FuncInfo}
	if err := h.store.PutAuthorizers(ctx, c.ID, a); err != nil {
		return platform.Authorizer{}, err
	}
	return a, nil
}

// exchanged reads what code was exchanged for; called: after a failed
// call, waiting (until ctx ends) while another exchange has it claimed.
// A read error counts as nothing remembered.
func (h *Handler) exchanged(ctx context.Context, component, code string, called bool) (platform.Authorizer, bool) {
	for {
		x, err := h.store.ExchangedCode(ctx, component, code)
		if err != nil {
			return platform.Authorizer{}, false
		}
		switch decide(x, called) {
		case stepAnswer:
			h.log.Info("callback: authorization code already exchanged; the stored authorizer answers", "component", component,
				"authorizer", platform.AuthorizerID(component, x.Authorizer.AppID))
			return x.Authorizer, true
		case stepWait:
			select {
			case <-ctx.Done():
				return platform.Authorizer{}, false
			case <-time.After(pollInterval):
			}
		default:
			return platform.Authorizer{}, false
		}
	}
}
