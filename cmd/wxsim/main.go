// Command wxsim serves the fake WeChat token API of package
// refresher/wechat/wechattest as a standalone server, for demos, docker
// compose and benchmarks. It is a test double: it keeps everything in
// memory and must never face the internet.
//
//	wxsim -listen 127.0.0.1:8090 -lifetime 60s -overlap 10s -app wxdemo0000000001:demosecret
//
// Besides WeChat's endpoints it serves GET /audit (fetch and usage counters)
// and POST /rotate?appid=&endpoint=token|stable_token (someone else fetched
// a token). It stops gracefully on SIGINT or SIGTERM.
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
	"strings"
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

// errUsage marks command-line errors (already printed by the flag set).
var errUsage = errors.New("wxsim: usage")

// app is one -app flag.
type app struct{ id, secret string }

type options struct {
	listen  string
	verbose bool
	cfg     wechattest.Config
	apps    []app
}

// routes lists every route the fake serves (package wechattest), for the
// usage text; TestUsage_listsEveryRoute checks each is served.
var routes = []struct{ method, path, what string }{
	{"GET", "/cgi-bin/token?grant_type=client_credential&appid=&secret=", "classic access token"},
	{"POST", "/cgi-bin/stable_token", "stable access token (JSON body; force_refresh)"},
	{"POST", "/cgi-bin/clear_quota/v2", "reset an app's daily quota"},
	{"GET", "/cgi-bin/getcallbackip?access_token=", "a protected call: checks the token"},
	{"GET", "/cgi-bin/ticket/getticket?access_token=&type=jsapi|wx_card", "JS-SDK tickets"},
	{"GET", "/audit", "test double only: fetch, usage and error counters (JSON)"},
	{"POST", "/rotate?appid=&endpoint=token|stable_token", "test double only: someone else fetched a token (the current one is superseded)"},
}

func usage(fs *flag.FlagSet, out io.Writer) func() {
	return func() {
		fmt.Fprintln(out, "usage: wxsim [flags]\n\nA fake WeChat token API for demos and tests; never expose it. Routes:")
		for _, r := range routes {
			fmt.Fprintf(out, "  %-4s %s\n         %s\n", r.method, r.path, r.what)
		}
		fmt.Fprintln(out, "\nFlags:")
		fs.PrintDefaults()
	}
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("wxsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = usage(fs, out)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8090", "address to listen on")
	fs.DurationVar(&o.cfg.Lifetime, "lifetime", 7200*time.Second, "token lifetime (whole seconds)")
	fs.DurationVar(&o.cfg.Overlap, "overlap", 5*time.Minute, "how long a superseded classic token keeps working; stable rotation window")
	fs.IntVar(&o.cfg.DailyQuota, "daily-quota", 2000, "calls per app per endpoint family per day before 45009 (negative: unlimited)")
	fs.IntVar(&o.cfg.MinuteQuota, "minute-quota", 0, "calls per app per endpoint family per minute before 45011 (0: off)")
	fs.IntVar(&o.cfg.ForceDailyLimit, "force-daily-limit", 20, "stable force_refresh calls per app per day")
	fs.DurationVar(&o.cfg.ForceInterval, "force-interval", 30*time.Second, "shortest time between two force_refresh calls")
	fs.BoolVar(&o.verbose, "v", false, "log every request (path only, never the query)")
	fs.Func("app", "appid:secret of an account (repeatable; default wxdemo0000000001:demosecret)", func(v string) error {
		id, secret, ok := strings.Cut(v, ":")
		if !ok || id == "" || secret == "" {
			return errors.New("want appid:secret")
		}
		o.apps = append(o.apps, app{id, secret})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(out, "unexpected arguments: %q\n", fs.Args())
		return o, errUsage
	}
	if o.cfg.Lifetime <= 0 || o.cfg.Overlap <= 0 || o.cfg.Overlap >= o.cfg.Lifetime {
		fmt.Fprintln(out, "-lifetime and -overlap must be positive, with -overlap < -lifetime")
		return o, errUsage
	}
	if len(o.apps) == 0 {
		o.apps = []app{{"wxdemo0000000001", "demosecret"}}
	}
	return o, nil
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
	ids := make([]string, 0, len(o.apps))
	for _, a := range o.apps {
		fake.AddApp(a.id, a.secret)
		ids = append(ids, a.id)
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
	logger.Info("wxsim listening", "addr", ln.Addr().String(), "apps", ids,
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
