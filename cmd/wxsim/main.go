// Command wxsim serves the fake token APIs of package
// refresher/wechat/wechattest (WeChat, WeCom, Feishu, DingTalk, with their
// JS-SDK tickets and probes) as a standalone server, for demos, docker
// compose and benchmarks. It is a test double: it keeps everything in
// memory and must never face the internet.
//
//	wxsim -listen 127.0.0.1:8090 -lifetime 60s -overlap 10s \
//	      -app wxdemo0000000001:demosecret -wecom ww0000000000000001:1000002:wecomsecret \
//	      -feishu cli_0000000000000001:feishusecret -dingtalk ding0000000000000001:dingsecret
//
// With no app flag it registers one demo app per platform. Besides the
// platforms' endpoints it serves the test hooks of wechattest: GET /audit,
// POST /apps, POST /rotate, POST /rotate_ticket, GET /check and
// POST|DELETE /fault (see -h), and the Open Platform components' (POST
// /components registers one with its callback URLs and push interval;
// POST /components/push|replay|stop|expire_tickets?appid=, GET
// /components/stats?appid=; see wechattest's component_http.go). It stops gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

const shutdownTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down gracefully. ready, if not
// nil, is called with the listening address once the server accepts.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(net.Addr)) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	fake := wechattest.New(o.cfg)
	defer fake.Close()
	ids, keys, err := register(fake, o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("wxsim: %w", err)
	}
	handler := fake.Handler()
	if o.verbose {
		handler = logRequests(logger, handler)
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	logger.Info("wxsim listening", "addr", ln.Addr().String(), "apps", ids, "other_apps", keys,
		"lifetime", o.cfg.Lifetime, "overlap", o.cfg.Overlap,
		"daily_quota", o.cfg.DailyQuota, "minute_quota", o.cfg.MinuteQuota)
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("wxsim: serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("wxsim shutting down")
	fake.Close() // end injected delays so Shutdown does not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = hs.Shutdown(sctx)
	<-errc // http.ErrServerClosed
	if err != nil {
		return fmt.Errorf("wxsim: shutdown: %w", err)
	}
	return nil
}

// register adds the apps of o to fake. It returns the WeChat appids and
// the keys of the other platforms' apps (never a secret).
func register(fake *wechattest.Server, o options) (ids, keys []string, err error) {
	for _, a := range o.apps {
		fake.AddApp(a.id, a.secret)
		ids = append(ids, a.id)
	}
	for _, a := range o.wecom {
		if err := fake.AddWeCom(a.corpid, a.agentid, a.secret); err != nil {
			return nil, nil, fmt.Errorf("wxsim: -wecom %s:%s: %w", a.corpid, a.agentid, err)
		}
		keys = append(keys, wechattest.WeComKey(a.corpid, a.agentid))
	}
	for _, a := range o.feishu {
		fake.AddFeishu(a.id, a.secret)
		keys = append(keys, wechattest.FeishuKey(a.id))
	}
	for _, a := range o.dingtalk {
		fake.AddDingTalk(a.id, a.secret)
		keys = append(keys, wechattest.DingTalkKey(a.id))
	}
	return ids, keys, nil
}

// logRequests logs method, path, status and duration of each request. The
// query is left out: it carries secrets and tokens.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		began := time.Now()
		next.ServeHTTP(sw, r)
		logger.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(began))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
