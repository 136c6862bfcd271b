package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/cmd/tokenbench/internal/chart"
	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/cmd/tokenbench/internal/naive"
	"github.com/tokend/tokend/cmd/tokenbench/internal/upstream"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/store/reader"
)

// readEvery is the pause between two reads of a reader.
const readEvery = 5 * time.Millisecond

// every calls f every readEvery until ctx ends.
func every(ctx context.Context, f func()) { fleet.Every(ctx, readEvery, f) }

// cycleGroup is one replica count: a tokend deployment and a naive one.
type cycleGroup struct {
	n            int
	d            *fleet.Deployment
	app, naive   string
	tokR, naiveR upstream.ReadStats
}

// cycleFigures: upstream fetches per refresh cycle and dead tokens handed
// to readers, tokend against the naive baseline, for each replica count.
// All groups run at once (separate apps and prefixes) to save time.
func (b *bench) cycleFigures(ctx context.Context) error {
	lifetime := b.opts.lifetime
	var groups []*cycleGroup
	defer func() {
		for _, g := range groups {
			g.d.Stop()
		}
	}()
	for _, n := range b.opts.replicas {
		g := &cycleGroup{n: n, app: fmt.Sprintf("cyc%d", n), naive: fmt.Sprintf("naive%d", n)}
		for _, id := range []string{g.app, g.naive} {
			b.fast.AddApp(id, b.Secret)
			b.fast.SetRTT(id, b.opts.rtt)
		}
		d, err := b.NewDeployment(fmt.Sprintf("c%d", n), []string{g.app}, b.fast.URL)
		if err != nil {
			return err
		}
		d.Refresh = fleet.Refresh{BeforeExpiry: (lifetime / 12).String(), SafetyMargin: (lifetime / 120).String(), MinExpiresIn: "1s"}
		g.d = d
		groups = append(groups, g)
	}
	b.stepf("fetch cycles: replica counts %v at once, then %s of reads", b.opts.replicas, b.opts.cycleWindow)
	start := time.Now()
	for _, g := range groups {
		if err := g.d.StartReplicas(ctx, g.n, 20*time.Second); err != nil {
			return err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, b.opts.cycleWindow)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(groups))
	for _, g := range groups {
		wg.Go(func() { errs <- b.tokendReaders(rctx, g) })
		wg.Go(func() { errs <- b.naiveReplicas(rctx, g) })
	}
	wg.Go(func() { b.cycleProgress(rctx, groups) })
	wg.Wait()
	end := time.Now()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	b.logf("fetch cycles ran %s", end.Sub(start).Round(time.Millisecond))
	for _, g := range groups {
		b.cycleRow(g, start, end)
	}
	return nil
}

// cycleRow adds g's row and result and checks tokend's invariants.
func (b *bench) cycleRow(g *cycleGroup, start, end time.Time) {
	count := func(app string, rs *upstream.ReadStats) chart.Series {
		var in []time.Time
		for _, t := range b.fast.Fetches(app) {
			if !t.Before(start) && !t.After(end) {
				in = append(in, t)
			}
		}
		s := chart.Series{Fetches: len(in), Reads: rs.Reads.Load(), Dead: rs.Dead.Load()}
		s.Cycles, s.MaxPer = upstream.Bursts(in, b.opts.lifetime/4)
		return s
	}
	res := chart.Point{Replicas: g.n, Tokend: count(g.app, &g.tokR), Naive: count(g.naive, &g.naiveR)}
	b.cycles = append(b.cycles, res)
	t, n, tm := res.Tokend, res.Naive, g.tokR.Missing.Load()
	st := statusOK
	if t.Fetches > t.Cycles+1 || t.Cycles == 0 {
		st = statusFail
		b.fail("tokend with %d replicas: %d upstream fetches in %d cycles (max %d in one)", g.n, t.Fetches, t.Cycles, t.MaxPer)
	}
	if t.Dead > 0 {
		st = statusFail
		b.fail("tokend with %d replicas handed readers %d dead tokens", g.n, t.Dead)
	}
	tok := fmt.Sprintf("%s /cycle (%d in %d); dead %s of %s reads", t.PerCycleText(), t.Fetches, t.Cycles, figures.PctOf(t.Dead, t.Reads), figures.Int(t.Reads))
	if tm > 0 {
		tok += fmt.Sprintf(", %d without token", tm)
	}
	b.add(row{
		figure:  fmt.Sprintf("upstream fetches per refresh cycle, %d replica(s)", g.n),
		tokend:  tok,
		compare: fmt.Sprintf("%s /cycle (%d in %d, max %d); dead %s of %s reads", n.PerCycleText(), n.Fetches, n.Cycles, n.MaxPer, figures.PctOf(n.Dead, n.Reads), figures.Int(n.Reads)),
		goal:    "1 /cycle, 0 dead", status: st,
	})
}

// tokendReaders reads g's token every readEvery until ctx ends, once with
// a Redis GET per read and once through a reader.Reader, and checks each
// token with the fake upstream.
func (b *bench) tokendReaders(ctx context.Context, g *cycleGroup) error {
	if _, err := g.d.WaitToken(ctx, g.app, 10*time.Second); err != nil {
		return err
	}
	rrdb, err := fleet.NewRedisClient(b.RedisURL, 4)
	if err != nil {
		return err
	}
	defer rrdb.Close()
	r, err := reader.New(rrdb, reader.Config{Prefix: g.d.Prefix})
	if err != nil {
		return err
	}
	defer r.Close()
	key := g.d.Store.Keys().Token(g.app)
	every(ctx, func() {
		v, err := rrdb.Get(ctx, key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			g.tokR.Missing.Add(1)
		case err == nil:
			g.tokR.Observe(b.fast, v)
		}
		tok, err := r.Token(ctx, g.app)
		switch {
		case errors.Is(err, reader.ErrNoToken):
			g.tokR.Missing.Add(1)
		case err == nil:
			g.tokR.Observe(b.fast, tok.Value)
		}
	})
	return nil
}

// naiveReplicas runs g.n naive replicas, each read every readEvery by its
// own business code, until ctx ends.
func (b *bench) naiveReplicas(ctx context.Context, g *cycleGroup) error {
	key := "{" + b.Prefix + "-" + g.naive + "}:token"
	var wg sync.WaitGroup
	for range g.n {
		rdb, err := fleet.NewRedisClient(b.RedisURL, 4)
		if err != nil {
			return err
		}
		defer rdb.Close()
		prov, err := wechat.NewClassic(wechat.Config{AppID: g.naive, Secret: b.Secret, BaseURL: b.fast.URL, MinExpiresIn: time.Second})
		if err != nil {
			return err
		}
		nr := naive.New(rdb, key, prov)
		wg.Go(func() {
			every(ctx, func() {
				if v, err := nr.Token(ctx); err == nil {
					g.naiveR.Observe(b.fast, v)
				}
			})
		})
	}
	wg.Wait()
	return nil
}
