package main

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/cmd/tokenbench/internal/storm"
)

// stormApp is the app of the takeover and storm deployment.
const stormApp = "storm"

// takeoverAndStorm runs three replicas with compressed election timings,
// times takeovers after SIGTERM and SIGKILL of the leader, then runs the
// report storms against the same replicas.
func (b *bench) takeoverAndStorm(ctx context.Context) error {
	b.slow.AddApp(stormApp, b.Secret)
	d, err := b.NewDeployment("to", []string{stormApp}, b.slow.URL)
	if err != nil {
		return err
	}
	defer d.Stop()
	lt := b.opts.leaseTTL
	d.Election = fleet.Election{
		LeaseTTL: lt.String(), RenewInterval: (lt * 3 / 10).String(),
		RenewDeadline: (lt * 7 / 10).String(), RetryInterval: (lt * 2 / 15).String(),
	}
	d.RedisTO = (lt / 5).String()
	d.Refresh = fleet.Refresh{Cooldown: storm.Cooldown.String()}
	if err := d.StartReplicas(ctx, 3, 20*time.Second); err != nil {
		return err
	}
	if _, _, err := d.WaitLeader(ctx, 3*lt+5*time.Second); err != nil {
		return err
	}
	if _, err := d.WaitToken(ctx, stormApp, 10*time.Second); err != nil {
		return err
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if err := b.takeoverFigure(ctx, d, sig); err != nil {
			return err
		}
	}
	if err := b.httpStorm(ctx, d); err != nil {
		return fmt.Errorf("http storm: %w", err)
	}
	if err := b.libraryStorm(ctx, d); err != nil {
		return fmt.Errorf("library storm: %w", err)
	}
	return nil
}

func (b *bench) takeoverFigure(ctx context.Context, d *fleet.Deployment, sig syscall.Signal) error {
	var lat figures.Durations
	for i := range b.opts.trials {
		took, err := d.Takeover(ctx, sig, b.opts.leaseTTL)
		if err != nil {
			return fmt.Errorf("%s trial %d: %w", sig, i+1, err)
		}
		b.logf("takeover after %s: %s", sig, figures.Dur(took))
		lat = append(lat, took)
	}
	lt := b.opts.leaseTTL
	r := row{tokend: fmt.Sprintf("p50 %s, max %s", figures.Dur(lat.Pct(50)), figures.Dur(lat.Max()))}
	if sig == syscall.SIGTERM {
		r.figure = fmt.Sprintf("takeover after SIGTERM of the leader (%d trials)", len(lat))
		r.compare = "lease released and announced"
		r.goal = "<= 300 ms"
		r.status = goalStatus(lat.Max() <= 300*time.Millisecond)
	} else {
		r.figure = fmt.Sprintf("takeover after SIGKILL of the leader (%d trials)", len(lat))
		r.compare = fmt.Sprintf("lease_ttl %s, renew every %s", figures.Dur(lt), figures.Dur(lt*3/10))
		r.goal = fmt.Sprintf("<= lease_ttl + 0.5 s = %s", figures.Dur(lt+500*time.Millisecond))
		r.status = goalStatus(lat.Max() <= lt+500*time.Millisecond)
	}
	b.add(r)
	return nil
}
