package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/alicebob/miniredis/v2"

	"github.com/tokend/tokend/cmd/tokend/internal/config"
	"github.com/tokend/tokend/cmd/tokend/internal/logrepeat"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

const (
	devApp    = "demo"
	devAppID  = "wxdemo0000000001"
	devSecret = "dev-mode-secret"
	// devTicket is the ticket kind the demo app keeps (the fake serves
	// /cgi-bin/ticket/getticket).
	devTicket = "jsapi"
)

// runDev runs a single replica with an embedded Redis (miniredis, TTLs
// ticking with the clock) on 127.0.0.1:6379, or a free port when 6379 is
// taken, and the fake WeChat upstream in-process, one demo app and the HTTP
// API open on loopback. The demo app keeps a jsapi ticket too.
func runDev(ctx context.Context, log *slog.Logger, repeats *logrepeat.Limiter, listen string, stdout io.Writer) error {
	mr, err := startDevRedis(log, devRedisAddr)
	if err != nil {
		return err
	}
	defer mr.Close()
	up := wechattest.NewServer(wechattest.Config{})
	defer up.Close()
	up.AddApp(devAppID, devSecret)

	if ln, err := net.Listen("tcp", listen); err != nil {
		log.Warn("tokend: dev mode: the HTTP address is taken; the API listens on a free port instead (see \"http api listening\")", "addr", listen, "err", err)
		listen = "127.0.0.1:0"
	} else {
		ln.Close()
	}
	cfg := &config.Config{
		ReplicaID: "dev",
		Redis:     config.RedisConfig{URL: "redis://" + mr.Addr() + "/0"},
		HTTP:      config.HTTPConfig{Listen: &listen},
		Apps: []config.AppConfig{{
			ID: devApp, Provider: "wechat", AppID: devAppID, BaseURL: up.URL,
			Tickets: []string{devTicket},
		}},
	}
	cfg.Apps[0].SetSecret(devSecret)
	cfg.SetDefaults()
	d, err := newDaemon(cfg, log, daemonOptions{open: true, repeats: repeats, onListen: func(addr string) {
		printBanner(stdout, addr, mr.Host(), mr.Port(), up.URL)
	}})
	if err != nil {
		return err
	}
	return d.run(ctx)
}

func printBanner(w io.Writer, api, redisHost, redisPort, upstream string) {
	r := strings.NewReplacer("{api}", api, "{rhost}", redisHost, "{rport}", redisPort,
		"{upstream}", upstream, "{app}", devApp, "{kind}", devTicket)
	fmt.Fprint(w, r.Replace(`
tokend dev mode: embedded Redis at {rhost}:{rport}, fake WeChat upstream at {upstream}, app "{app}".
Nothing here talks to WeChat; the token and the ticket are issued by the fake.

  Read the token over HTTP:   curl -s http://{api}/v1/apps/{app}/token
  Read it from Redis:         redis-cli -h {rhost} -p {rport} GET '{tokend}:token:{app}'
  Report it as bad:           curl -s -X POST -d '{"invalid_token":"<token>"}' http://{api}/v1/apps/{app}/refresh
  Read the JS-SDK ticket:     curl -s http://{api}/v1/apps/{app}/tickets/{kind}
  Read it from Redis:         redis-cli -h {rhost} -p {rport} GET '{tokend}:token:{app}:{kind}'
  Sign a page (wx.config):    curl -s -X POST -d '{"url":"http://127.0.0.1:3000/page?id=1"}' http://{api}/v1/apps/{app}/signature
  Status and metrics:         curl -s http://{api}/v1/status ; curl -s http://{api}/metrics
  Console (open in a browser): http://{api}/ui/

Stop with Ctrl-C.
`))
}

// devRedisAddr is where dev mode's embedded Redis listens when it can. A
// variable only so that tests run dev mode without touching 6379.
var devRedisAddr = "127.0.0.1:6379"

// startDevRedis starts the embedded Redis on preferred, or on a free
// loopback port when preferred is taken (e.g. by a real Redis: dev mode
// never writes into someone else's), and says so and where.
func startDevRedis(log *slog.Logger, preferred string) (*miniredis.Miniredis, error) {
	mr := miniredis.NewMiniRedis()
	mr.ClockTTL(true)
	err := mr.StartAddr(preferred)
	if err == nil {
		return mr, nil
	}
	mr = miniredis.NewMiniRedis()
	mr.ClockTTL(true)
	if err2 := mr.StartAddr("127.0.0.1:0"); err2 != nil {
		return nil, fmt.Errorf("embedded redis: %w", err2)
	}
	log.Warn("tokend: dev mode: "+preferred+" is taken (a Redis of your own?); the embedded Redis listens on "+mr.Addr()+
		" instead and nothing is written to "+preferred, "err", err)
	return mr, nil
}

// checkDevListen refuses a non-loopback dev-mode address: dev mode serves
// tokens without authentication.
func checkDevListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !config.ValidHostPort(addr) {
		return fmt.Errorf("-dev-listen: want host:port, got %q", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-dev-listen: dev mode serves tokens without auth, so it listens on loopback only, got %q", host)
	}
	return nil
}
