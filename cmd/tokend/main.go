// Command tokend is the token server: each replica takes part in the leader
// election over Redis; the leader keeps every configured app's access token
// fresh in Redis; every replica serves the HTTP API (status, token, refresh
// reports), health endpoints and Prometheus metrics.
//
//	tokend -config FILE        run a replica
//	tokend check -config FILE  validate a configuration and exit
//	tokend acl -config FILE -app ID  print a Redis ACL rule for one app's reader
//	tokend                     dev mode: embedded Redis and fake upstream
//	tokend -version
//
// Invalid configuration exits with status 2 and one line naming the field.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/utils/clock"

	"github.com/tokend/tokend/cmd/tokend/internal/config"
	"github.com/tokend/tokend/cmd/tokend/internal/logrepeat"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.ReadFile, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitConfig = 2
)

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, readFile func(string) ([]byte, error), stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "acl" {
		return runACL(args[1:], getenv, readFile, stdout, stderr)
	}
	check := len(args) > 0 && args[0] == "check"
	if check {
		args = args[1:]
	}
	fs := flag.NewFlagSet("tokend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default $TOKEND_CONFIG; none: dev mode)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logFormat := fs.String("log-format", "", "text or json (overrides log.format)")
	devListen := fs.String("dev-listen", "127.0.0.1:8080", "dev mode: HTTP API address")
	if code, ok := parseFlags(fs, "usage: tokend [check] [-config FILE] [-log-format text|json] [-version]", stderr, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tokend: unexpected argument %q\n", fs.Arg(0))
		return exitConfig
	}
	if *showVersion {
		fmt.Fprintln(stdout, "tokend", version)
		return exitOK
	}
	path := *configPath
	if path == "" {
		path = getenv("TOKEND_CONFIG")
	}
	if path == "" && check {
		fmt.Fprintln(stderr, "tokend: check needs -config FILE")
		return exitConfig
	}
	if path == "" {
		log := newLogger(stderr, orDefault(*logFormat, "text"), slog.LevelInfo)
		repeats := logrepeat.New(log, clock.RealClock{})
		logrepeat.SetRedisLogger(repeats)
		if err := checkDevListen(*devListen); err != nil {
			fmt.Fprintf(stderr, "tokend: %v\n", err)
			return exitConfig
		}
		if err := runDev(ctx, log, repeats, *devListen, stdout); err != nil {
			log.Error("tokend: dev mode failed", "err", err)
			return exitFailed
		}
		return exitOK
	}
	cfg, warnings, err := loadConfig(path, getenv, readFile)
	if err != nil {
		fmt.Fprintf(stderr, "tokend: %v\n", err)
		return exitConfig
	}
	if *logFormat != "" {
		if *logFormat != "text" && *logFormat != "json" {
			fmt.Fprintf(stderr, "tokend: -log-format: want text or json, got %q\n", *logFormat)
			return exitConfig
		}
		cfg.Log.Format = *logFormat
	}
	if check {
		for _, w := range warnings {
			fmt.Fprintln(stderr, "tokend: warning:", w)
		}
		fmt.Fprintf(stdout, "%s: ok (%d apps)\n", path, len(cfg.Apps))
		return exitOK
	}
	level, _ := config.ParseLevel(cfg.Log.Level)
	log := newLogger(stderr, cfg.Log.Format, level).With("replica", cfg.ReplicaID)
	repeats := logrepeat.New(log, clock.RealClock{})
	logrepeat.SetRedisLogger(repeats)
	for _, w := range warnings {
		log.Warn("tokend: config: " + w)
	}
	d, err := newDaemon(cfg, log, daemonOptions{repeats: repeats})
	if err != nil {
		log.Error("tokend: start failed", "err", err)
		return exitFailed
	}
	if err := d.run(ctx); err != nil {
		log.Error("tokend: stopped with an error", "err", err)
		return exitFailed
	}
	return exitOK
}

// loadConfig reads and parses the file at path (parseConfig).
func loadConfig(path string, getenv func(string) string, readFile func(string) ([]byte, error)) (*config.Config, []string, error) {
	data, err := config.Read(path, readFile)
	if err != nil {
		return nil, nil, err
	}
	return parseConfig(data, getenv, readFile)
}

// parseConfig is config.Parse (tokend's own rules), then the libraries'
// rules through the constructors a start uses (checkParts): `tokend
// check` and a start both call it, so a config check accepts cannot fail
// at start.
func parseConfig(data []byte, getenv func(string) string, readFile func(string) ([]byte, error)) (*config.Config, []string, error) {
	cfg, warnings, err := config.Parse(data, getenv, readFile)
	if err != nil {
		return nil, nil, err
	}
	if err := checkParts(cfg, getenv); err != nil {
		return nil, nil, err
	}
	return cfg, warnings, nil
}

// parseFlags parses args into fs, which prints usage to stderr on -h or
// a bad flag; ok false: exit with code (0 after -h).
func parseFlags(fs *flag.FlagSet, usage string, stderr io.Writer, args []string) (code int, ok bool) {
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitConfig, false
	}
	return exitOK, true
}

// newLogger logs text or json at level; durations render as Go duration
// strings ("1.5s") in both, not as json nanoseconds.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationString}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
