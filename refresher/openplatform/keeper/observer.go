package keeper

// KindToken is the kind an Observer is told for an authorizer's token
// (tickets are told by their kind, "jsapi", "wx_card").
const KindToken = "token"

// Observer is told what a Keeper does, for metrics: per component and
// kind, never per authorizer (10,000 authorizers must not become 10,000
// series), never a token. Calls are synchronous and may come from
// several goroutines: keep them fast and safe for concurrent use.
type Observer interface {
	// AuthorizerRefreshed: one fetch of kind ended with outcome: "ok",
	// "unchanged" (a ticket: the upstream answered the stored one),
	// "failed", "needs_reauthorization" (61023), "token_rejected" (a
	// ticket call refused for the authorizer token; reported), "gone" (the
	// authorizer was unauthorized meanwhile; nothing written).
	AuthorizerRefreshed(component, kind, outcome string)
	// AuthorizerReport: a report of an authorizer token was looked at:
	// "refresh" (it causes one refresh), "stale" (not the current token;
	// cleared, no call), "cooldown" (held until the cooldown ends),
	// "ignored" (an authorizer not kept or waiting for re-authorization;
	// cleared, no call).
	AuthorizerReport(component, outcome string)
	// AuthorizerStates: the counts by state of the authorizers kept, when
	// they change (and zeros when leadership ends).
	AuthorizerStates(component string, s Summary)
}

type nopObserver struct{}

func (nopObserver) AuthorizerRefreshed(string, string, string) {}
func (nopObserver) AuthorizerReport(string, string)            {}
func (nopObserver) AuthorizerStates(string, Summary)           {}
