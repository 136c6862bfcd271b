package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/authbench"
	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
)

// authorizerOverhead is the steady goal beyond the refresh work: Redis
// commands a second the keeper, the lease and the replica registry of a
// leader and a follower may cost at rest.
const authorizerOverhead = 10.0

// authorizerFigures: one Open Platform component with opts.authorizers
// authorizers (issue 18), on a leader and a follower with WeChat's 2 h
// tokens: the first fill against the ideal, the leader's steady RSS,
// Redis's steady commands against the refresh work, and the recovery of
// a deleted authorizer list.
func (b *bench) authorizerFigures(ctx context.Context) error {
	n := b.opts.authorizers
	res, err := authbench.Run(ctx, authbench.Config{
		Env: &b.Env, Upstream: b.slow, Authorizers: n, Rate: b.opts.authRate, Steady: b.opts.authSteady,
		Logf: func(f string, a ...any) { fmt.Fprintf(b.stderr, "tokenbench: "+f+"\n", a...) },
	})
	if err != nil {
		return err
	}
	ratio := res.Fill.Seconds() / res.Ideal.Seconds()
	b.add(row{
		figure: fmt.Sprintf("authorizers: first fill, %s authorizers of 1 component, authorizer_rate %g/s (leader + follower)", figures.Int(int64(n)), b.opts.authRate),
		tokend: fmt.Sprintf("%s from process start (%s after the component token; %s api_authorizer_token calls, %d list pages)",
			figures.Dur(res.Fill), figures.Dur(res.FromComponent), figures.Int(int64(res.FillFetches)), res.ListCalls),
		compare: fmt.Sprintf("ideal %s/%g = %s; %.2f x ideal", figures.Int(int64(n)), b.opts.authRate, figures.Dur(res.Ideal), ratio),
		goal:    "<= 1.1 x ideal + 5 s", status: goalStatus(res.Fill <= res.Ideal*11/10+5*time.Second),
	})
	b.add(row{
		figure: fmt.Sprintf("authorizers: leader RSS, %s authorizers, steady state", figures.Int(int64(n))),
		tokend: fmt.Sprintf("%.1f MB (VmRSS)", float64(res.RSS)/(1<<20)), goal: "<= 150 MB", status: goalStatus(res.RSS <= 150<<20),
	})
	w := res.Steady.Window
	rate := float64(res.PerCommand.Total()) / w.Seconds() // commandstats, the bench's INFO left out
	work := res.RefreshRate * res.PerRefresh
	b.add(row{
		figure: fmt.Sprintf("authorizers: Redis commands/s, steady state over %s (commandstats, incl. inside scripts)", figures.Dur(w)),
		tokend: fmt.Sprintf("%.1f /s: %s", rate, authbench.Breakdown(res.PerCommand, w, 6)),
		compare: fmt.Sprintf("refresh work expected in the long run: %.2f refreshes/s x %.1f commands (fill: %s in %s calls) = %.1f /s; none due in this window (2 h tokens)",
			res.RefreshRate, res.PerRefresh, figures.Int(res.FillCommands), figures.Int(int64(res.FillFetches)), work),
		goal: fmt.Sprintf("refresh work + <= %.0f /s", authorizerOverhead), status: goalStatus(rate <= work+authorizerOverhead),
	})
	b.add(row{
		figure:  "authorizers: Redis commands per api_authorizer_token call in the first fill",
		tokend:  fmt.Sprintf("%.1f: %s", res.PerRefresh, authbench.Breakdown(res.FillPerCmd, time.Duration(res.FillFetches)*time.Second, 8)),
		compare: "everything Redis ran in the fill (lease, list, component and status writes included), per call",
		goal:    "-", status: statusNone,
	})
	rc := res.Recovery
	kept := rc.Lost == 0 && rc.Mismatched == 0 && rc.Invalid == 0 && rc.Refused61023 == 0
	if !kept {
		b.fail("authorizers: after the list was deleted: %d lost, %d with another refresh token, %d without a valid token, %d answered 61023",
			rc.Lost, rc.Mismatched, rc.Invalid, rc.Refused61023)
	}
	b.add(row{
		figure: "authorizers: recovery after DEL of the authorizer list",
		tokend: fmt.Sprintf("list rebuilt in %s (%d api_get_authorizer_list calls, %d api_authorizer_token calls meanwhile); a new authorization's token %s later",
			figures.Dur(rc.Rebuilt), rc.ListCalls, rc.Fetches, figures.Dur(rc.Resumed)),
		compare: fmt.Sprintf("%d lost, %d with a refresh token other than the upstream's, %d without a valid token, %d 61023", rc.Lost, rc.Mismatched, rc.Invalid, rc.Refused61023),
		goal:    "no authorizer lost", status: goalStatus(kept),
	})
	return nil
}
