package main

import (
	"context"
	"fmt"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// Rollover timings of the ticket figures.
const (
	// ticketRetry is tokend's RetryMin (the refresher's default, 1 s, not
	// a configuration key): after a ticket's expiry it is asked again this
	// often, so readers see no gap longer than this plus one fetch.
	ticketRetry = time.Second
	// ticketGapSlack is the fetch, write and read allowed on top of it.
	ticketGapSlack = 500 * time.Millisecond
	// ticketTokenLifetime is the parents' lifetime: long, so that the
	// figures show ticket rollovers alone.
	ticketTokenLifetime = 10 * time.Minute
)

// ticketCred is one ticket credential the figures follow: the app it
// belongs to (id, provider, appid, agentid and tickets; the deployment
// fills in the rest) and where the fake counts its calls and values.
type ticketCred struct {
	label   string // row label
	app     fleet.App
	kind    string
	caller  string // the fake's key of the calling app (Audit.Tickets)
	owner   string // the ticket's owner (Audit.TicketsIssued, Status.App)
	checker *harness.Checker
}

func (c *ticketCred) id() string { return c.app.ID + ":" + c.kind }

// ticketFigures: JS-SDK tickets of three platforms kept by three replicas,
// with compressed ticket lifetimes, over a few rollovers each: upstream
// calls per rollover and the reader gap at each rollover (the longest any
// reader, plain GET or reader.Reader, went without a valid ticket across
// it). Dead tickets handed to readers break an invariant.
func (b *bench) ticketFigures(ctx context.Context) error {
	life := max(2*time.Second, (b.opts.lifetime / 2).Truncate(time.Second))
	rollovers := 6
	if b.opts.quick {
		life, rollovers = 2*time.Second, 3
	}
	srv := wechattest.NewServer(wechattest.Config{Lifetime: ticketTokenLifetime, TicketLifetime: life, DailyQuota: -1})
	defer srv.Close()
	creds, err := b.ticketCreds(srv)
	if err != nil {
		return err
	}
	ids := make([]string, len(creds))
	for i, c := range creds {
		ids[i] = c.app.ID
	}
	d, err := b.NewDeployment("tk", ids, srv.URL)
	if err != nil {
		return err
	}
	for i, c := range creds {
		d.Apps[i].Provider, d.Apps[i].AppID, d.Apps[i].AgentID, d.Apps[i].Tickets = c.app.Provider, c.app.AppID, c.app.AgentID, c.app.Tickets
	}
	d.Refresh = fleet.Refresh{MinExpiresIn: "1s"}
	defer d.Stop()
	if err := d.StartReplicas(ctx, 3, 20*time.Second); err != nil {
		return err
	}
	for _, c := range creds {
		if _, err := d.WaitToken(ctx, c.id(), 10*time.Second); err != nil {
			return err
		}
		cfg := harness.CheckerConfig{
			Server: srv, Redis: b.RDB, Prefix: d.Prefix, App: c.id(), Check: harness.CheckTicket,
			Owner: c.owner, Kind: c.kind, GetReaders: 2, LibReaders: 1,
		}
		if c.checker, err = harness.NewChecker(cfg); err != nil {
			return err
		}
		defer c.checker.Stop()
	}
	a0, start := srv.Audit(), time.Now()
	window := time.Duration(rollovers)*life + time.Second
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return ctx.Err()
	}
	a1, took := srv.Audit(), time.Since(start)
	b.logf("ticket rollovers ran %s, ticket lifetime %s", took.Round(time.Millisecond), life)
	for _, c := range creds {
		b.ticketRow(c, life, a1.Tickets[c.caller+"/"+c.kind]-a0.Tickets[c.caller+"/"+c.kind],
			a1.TicketsIssued[c.owner+"/"+c.kind]-a0.TicketsIssued[c.owner+"/"+c.kind], c.checker.Stop())
	}
	return nil
}

// ticketCreds registers a WeChat, a WeCom and a DingTalk app with srv and
// returns the tickets the figures follow.
func (b *bench) ticketCreds(srv *wechattest.Server) ([]*ticketCred, error) {
	const wx, corp, agent, dt = "wxbench0000000tk1", "wwbench0000000tk2", "1000002", "dingbench00000tk3"
	srv.AddApp(wx, b.Secret)
	if err := srv.AddWeCom(corp, agent, b.Secret); err != nil {
		return nil, err
	}
	srv.AddDingTalk(dt, b.Secret)
	app := func(id, provider, appid, agentid string, tickets ...string) fleet.App {
		return fleet.App{ID: id, Provider: provider, AppID: appid, AgentID: agentid, Tickets: tickets}
	}
	wc := wechattest.WeComKey(corp, agent)
	return []*ticketCred{
		{label: "WeChat jsapi", app: app("tk-wx", "wechat", wx, "", "jsapi"), kind: "jsapi", caller: wx, owner: wx},
		{label: "WeCom agent_config", app: app("tk-wecom", "wecom", corp, agent, "agent_config"), kind: "agent_config", caller: wc, owner: wc},
		{label: "DingTalk jsapi", app: app("tk-ding", "dingtalk", dt, "", "jsapi"), kind: "jsapi", caller: wechattest.DingTalkKey(dt), owner: wechattest.DingTalkKey(dt)},
	}, nil
}

// ticketRow adds one ticket's row: calls, new tickets (rollovers) and the
// readers' gaps at the rollovers they saw.
func (b *bench) ticketRow(c *ticketCred, life time.Duration, calls, issued int, st harness.Stats) {
	gaps := figures.Durations(harness.Gaps(st.Rollovers))
	bound := harness.RolloverCalls(life, ticketRetry)
	status := goalStatus(len(gaps) > 0 && gaps.Max() <= ticketRetry+ticketGapSlack)
	if st.DeadTotal() > 0 {
		status = statusFail
		b.fail("%s: readers were handed %d dead tickets (by errcode: get %v, reader %v)", c.label, st.DeadTotal(), st.Get.DeadByCode, st.Lib.DeadByCode)
	}
	if issued == 0 || calls > (issued+1)*bound {
		status = statusFail
		b.fail("%s: %d ticket calls for %d rollovers, want <= %d per rollover", c.label, calls, issued, bound)
	}
	perRollover := "n/a"
	if issued > 0 {
		perRollover = fmt.Sprintf("%.2f", float64(calls)/float64(issued))
	}
	b.add(row{
		figure: fmt.Sprintf("ticket rollover, %s (%s tickets, 3 replicas)", c.label, life),
		tokend: fmt.Sprintf("%s calls /rollover (%d calls, %d rollovers); reader gap at rollover p50 %s, max %s (%d seen); dead %d of %s reads",
			perRollover, calls, issued, figures.Dur(gaps.Pct(50)), figures.Dur(gaps.Max()), len(gaps), st.DeadTotal(), figures.Int(st.Get.Reads+st.Lib.Reads)),
		compare: fmt.Sprintf("schedule: <= %d calls /rollover (due, halving, expiry, +%s); 1 new ticket per lifetime", bound, ticketRetry),
		goal:    fmt.Sprintf("gap <= retry %s + %s, 0 dead", ticketRetry, ticketGapSlack),
		status:  status,
	})
}
