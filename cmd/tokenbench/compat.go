package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/load"
)

// compatClients is the concurrency of every compat measurement: the HTTP
// clients of each route and redis-benchmark's connections.
const compatClients = load.Clients

// compatFigures: GET /cgi-bin/token (the WeChat-shaped route SDKs call)
// against one replica, beside GET /v1/apps/{app}/token on the same
// replica and redis-benchmark GETting the token key on the same
// redis-server (skipped when redis-benchmark is missing): requests per
// second and p99, each for opts.benchtime with compatClients clients.
func (b *bench) compatFigures(ctx context.Context) error {
	ids, d, err := b.slowAppsDeployment("compat", "cmp", 1)
	if err != nil {
		return err
	}
	defer d.Stop()
	if err := d.StartReplicas(ctx, 1, 30*time.Second); err != nil {
		return err
	}
	app := ids[0]
	rec, err := d.WaitToken(ctx, app, 30*time.Second)
	if err != nil {
		return err
	}
	base := "http://" + d.Reps[0].Addr
	q := url.Values{"grant_type": {"client_credential"}, "appid": {app}, "secret": {b.Secret}}
	compat, err := load.HTTP(ctx, base+"/cgi-bin/token?"+q.Encode(), "", rec.Token, b.opts.benchtime)
	if err != nil {
		return fmt.Errorf("/cgi-bin/token: %w", err)
	}
	v1, err := load.HTTP(ctx, base+"/v1/apps/"+app+"/token", b.APIToken, rec.Token, b.opts.benchtime)
	if err != nil {
		return fmt.Errorf("/v1/apps/{app}/token: %w", err)
	}
	ref := "/v1/apps/{app}/token: " + v1.String()
	if rb, err := load.RedisBenchmarkGET(ctx, b.RedisURL, d.Store.Keys().Token(app), b.opts.benchtime); err != nil {
		ref += "; redis-benchmark GET: " + err.Error()
	} else {
		ref += "; redis-benchmark GET of the token key: " + rb.String()
	}
	b.add(row{
		figure: fmt.Sprintf("compat: GET /cgi-bin/token, 1 replica, %d clients", compatClients),
		tokend: compat.String(), compare: ref,
		goal: ">= 1/2 of the /v1 route's req/s", status: goalStatus(2*compat.RPS >= v1.RPS),
	})
	return nil
}
