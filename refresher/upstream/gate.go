package upstream

import (
	"context"
	"time"
)

// Gate is optionally implemented by a Provider whose fetch needs an input
// pushed to tokend from outside (the Open Platform's
// component_verify_ticket, which WeChat pushes to the callback URL every
// 10 minutes). Implementations follow Provider's rules: safe for
// concurrent use, no secret, token or pushed value in an error.
type Gate interface {
	// Ready is asked right before a fetch ticket would be taken. When it
	// says not ready, no ticket is taken, no budget unit is used and no
	// call is made: the credential waits for the input and is asked
	// again after the refresher's ReportPoll. An error is a failure to
	// read the input (Redis), handled like any failed check.
	Ready(ctx context.Context) (Readiness, error)
	// Tend is called by the leader about every TendEvery, whether a fetch
	// is due or not: the provider's chance to ask the upstream to resume
	// pushes that stopped (api_start_push_ticket), at a rate it bounds
	// itself. Its error is logged, never retried sooner.
	Tend(ctx context.Context) error
	// TendEvery is how often Tend wants to run: it runs every
	// min(TendEvery, ReportPoll) (0: every ReportPoll).
	TendEvery() time.Duration
}

// Readiness is a Gate's answer.
type Readiness struct {
	// Ready: a fetch may be made now.
	Ready bool
	// WaitingFor names the input waited for when not Ready
	// ("component_verify_ticket"), shown in status.
	WaitingFor string
}
