package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
	"github.com/tokend/tokend/cmd/tokenbench/internal/load"
)

// proxyFigures: a small JSON API call (GET /cgi-bin/user/info) through
// one replica in proxy mode, beside the same call straight at the fake
// upstream, in one run: requests per second, p50 and p99 with
// compatClients clients for opts.benchtime each, and the latency the
// proxy adds.
func (b *bench) proxyFigures(ctx context.Context) error {
	ids, d, err := b.slowAppsDeployment("proxy", "prx", 1)
	if err != nil {
		return err
	}
	defer d.Stop()
	d.Proxy = true
	if err := d.StartReplicas(ctx, 1, 30*time.Second); err != nil {
		return err
	}
	rec, err := d.WaitToken(ctx, ids[0], 30*time.Second)
	if err != nil {
		return err
	}
	path := "/cgi-bin/user/info?openid=o1&lang=zh_CN&access_token=" + url.QueryEscape(rec.Token)
	direct, err := load.With(ctx, b.opts.benchtime, userInfoCall(ctx, b.slow.URL+path))
	if err != nil {
		return fmt.Errorf("straight at the upstream: %w", err)
	}
	proxied, err := load.With(ctx, b.opts.benchtime, userInfoCall(ctx, "http://"+d.Reps[0].Addr+path))
	if err != nil {
		return fmt.Errorf("through the proxy: %w", err)
	}
	added50, added99 := proxied.P50-direct.P50, proxied.P99-direct.P99
	b.add(row{
		figure: fmt.Sprintf("proxy: GET /cgi-bin/user/info through 1 replica, %d clients", compatClients),
		tokend: fmt.Sprintf("%s req/s, p50 %s, p99 %s; added p50 %s, p99 %s",
			figures.Int(int64(proxied.RPS)), figures.Dur(proxied.P50), figures.Dur(proxied.P99), fmtDelta(added50), fmtDelta(added99)),
		compare: fmt.Sprintf("straight at the fake upstream: %s req/s, p50 %s, p99 %s",
			figures.Int(int64(direct.RPS)), figures.Dur(direct.P50), figures.Dur(direct.P99)),
		goal: ">= 1/2 of the direct req/s", status: goalStatus(2*proxied.RPS >= direct.RPS),
	})
	return nil
}

// userInfoCall is one GET of u that must answer 200 with the user (no
// errcode): anything else is an error.
func userInfoCall(ctx context.Context, u string) func(*http.Client) error {
	return func(hc *http.Client) error {
		var ans struct {
			Errcode int    `json:"errcode"`
			OpenID  string `json:"openid"`
		}
		status, err := load.GetJSON(ctx, hc, u, "", &ans)
		switch {
		case err != nil:
			return err
		case status != http.StatusOK || ans.Errcode != 0 || ans.OpenID == "":
			return fmt.Errorf("HTTP %d, errcode %d", status, ans.Errcode)
		}
		return nil
	}
}

// fmtDelta is a signed duration: "+1.2 ms", "-300 µs".
func fmtDelta(d time.Duration) string {
	if d < 0 {
		return "-" + figures.Dur(-d)
	}
	return "+" + figures.Dur(d)
}
