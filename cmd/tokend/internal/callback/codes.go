package callback

import (
	"context"
	"errors"
	"time"

	"github.com/tokend/tokend/store/platform"
)

// One authorization, two deliveries: WeChat pushes "authorized" with an
// AuthorizationCode and redirects the administrator with the same code as
// auth_code (Handler.Authorize), to any replicas, in any order, possibly
// at the same moment; api_query_auth accepts a code once (61010 after).
// exchange remembers each successful exchange in Redis for the code's
// life (platform.AuthCodeLifetime, keyed by the code's SHA-256), so the
// second delivery answers the stored authorizer with no upstream call.
// An exchange in flight claims the code (platform.Store.ClaimCode), and a
// delivery that finds it claimed waits for it (within the timeout): two
// replicas at the same moment make one call. The code never appears in a
// key, log or error.
//
// What it does NOT do: take a claim over from a replica that died
// mid-exchange before the claim expires (Config.Timeout): a delivery
// waiting on it fails with ErrCodeBusy when its own timeout ends first.

// CodeStore is what exchange needs of *platform.Store for exchanged codes.
type CodeStore interface {
	ExchangedCode(ctx context.Context, component, code string) (platform.ExchangedCode, error)
	ClaimCode(ctx context.Context, component, code string, ttl time.Duration) (string, error)
	ReleaseCode(ctx context.Context, component, code, claim string) error
	RememberCode(ctx context.Context, component, code, appid string) error
}

// pollInterval is how often a delivery re-reads a code that another
// exchange has claimed.
const pollInterval = 20 * time.Millisecond

// ErrCodeBusy: another exchange of the code (another replica, usually)
// held it claimed until the deadline; a retry is answered by its result.
// An HTTP caller should answer it 503 (it is not Redis being down).
var ErrCodeBusy = errors.New("callback: another exchange of the authorization code did not finish in time")

// step is what exchange does next with a code.
type step int

const (
	stepAnswer step = iota // the code was exchanged: answer its authorizer
	stepWait               // another exchange has it claimed: read again
	stepClaim              // claim it, then call api_query_auth
	stepCall               // call unclaimed (garbage holds the key)
)

// decide is the next step for a code read as x; claimTried: a claim was
// refused since the last wait (the key exists but holds neither an
// exchange nor a claim: garbage, which must not cost the exchange).
func decide(x platform.ExchangedCode, claimTried bool) step {
	switch {
	case x.Done:
		return stepAnswer
	case x.Pending:
		return stepWait
	case claimTried:
		return stepCall
	default:
		return stepClaim
	}
}

// exchange answers the authorizer code was exchanged for: the stored one
// when code was already exchanged (no upstream call), after waiting while
// another exchange has it claimed; otherwise it claims the code (for
// Config.Timeout), calls api_query_auth with the component token stored
// in Redis, stores the authorizer it answers and remembers the code. A
// failed call releases the claim and is answered by an exchange that
// finished meanwhile, if any. ctx must have a deadline.
func (h *Handler) exchange(ctx context.Context, c Component, code string, authTime time.Time) (platform.Authorizer, error) {
	prev, done, claim, err := h.await(ctx, c.ID, code)
	if done || err != nil {
		return prev, err
	}
	a, err := h.queryAndStore(ctx, c, code, authTime)
	if err != nil {
		if claim != "" {
			_ = h.store.ReleaseCode(ctx, c.ID, code, claim) // else it expires with the timeout
		}
		if x, rerr := h.store.ExchangedCode(ctx, c.ID, code); rerr == nil && x.Done {
			h.reused(c.ID, x.Authorizer)
			return x.Authorizer, nil
		}
		return platform.Authorizer{}, err
	}
	if err := h.store.RememberCode(ctx, c.ID, code, a.AppID); err != nil {
		h.warn(ctx, "remember\x00"+c.ID, "callback: exchanged code not remembered; its second delivery will be refused by the upstream",
			"component", c.ID, "authorizer", platform.AuthorizerID(c.ID, a.AppID), "err", err)
	}
	return a, nil
}

// await reads code until it is exchanged (done, with its authorizer) or
// free to call (claim, "" when garbage in the key refuses a claim),
// waiting while another exchange has it claimed, until ctx ends
// (ErrCodeBusy).
func (h *Handler) await(ctx context.Context, component, code string) (a platform.Authorizer, done bool, claim string, err error) {
	claimTried := false
	for {
		x, err := h.store.ExchangedCode(ctx, component, code)
		if err != nil {
			return platform.Authorizer{}, false, "", err
		}
		switch decide(x, claimTried) {
		case stepAnswer:
			h.reused(component, x.Authorizer)
			return x.Authorizer, true, "", nil
		case stepCall:
			return platform.Authorizer{}, false, "", nil
		case stepClaim:
			claim, err := h.store.ClaimCode(ctx, component, code, h.timeout)
			if err != nil || claim != "" {
				return platform.Authorizer{}, false, claim, err
			}
			claimTried = true // claimed by another meanwhile, or garbage: read again
		case stepWait:
			claimTried = false
			select {
			case <-ctx.Done():
				return platform.Authorizer{}, false, "", ErrCodeBusy
			case <-time.After(pollInterval):
			}
		}
	}
}

// queryAndStore calls api_query_auth with the stored component token and
// stores the authorizer.
func (h *Handler) queryAndStore(ctx context.Context, c Component, code string, authTime time.Time) (platform.Authorizer, error) {
	tok, err := h.componentToken(ctx, c.ID)
	if err != nil {
		return platform.Authorizer{}, err
	}
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

// reused logs an answer from an earlier exchange (never the code).
func (h *Handler) reused(component string, a platform.Authorizer) {
	h.log.Info("callback: authorization code already exchanged; the stored authorizer answers",
		"component", component, "authorizer", platform.AuthorizerID(component, a.AppID))
}
