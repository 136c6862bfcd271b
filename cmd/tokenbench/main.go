// Command tokenbench measures tokend on one machine, side by side with the
// naive alternative, and prints one table:
//
//   - upstream fetches per refresh cycle with 1, 3 and 7 replicas, and the
//     same for a naive in-process baseline (every replica fetches for itself
//     with a shared Redis cache and an in-process lock, the common SDK
//     pattern), with the share of dead tokens readers were handed;
//   - the Reader's cache hit against a Redis GET per read, and how fast a
//     written token reaches a Reader;
//   - leader takeover after SIGKILL and after SIGTERM;
//   - a storm of concurrent reports of one bad token, over HTTP and through
//     the Reader: upstream fetches and time until every reporter holds the
//     new token;
//   - 10,000 apps: time to the first token of all, leader RSS and CPU, Redis
//     operations per second;
//   - JS-SDK ticket rollovers (WeChat, WeCom, DingTalk): upstream calls per
//     rollover and the reader gap at each rollover;
//   - idle cost: 10,000 idle apps on 3 replicas with default timings, Redis
//     commands per second (total and per replica) over at least 2 minutes
//     (not run with -quick unless named in -only);
//   - the WeChat-shaped GET /cgi-bin/token: requests per second and p99,
//     beside /v1/apps/{app}/token and redis-benchmark GET on the same Redis;
//   - proxy mode: a small JSON API call through tokend's proxy and straight
//     at the fake upstream: requests per second, p50, p99 and the latency added.
//
// It starts its own redis-server on a free loopback port (or uses -redis),
// the fake WeChat upstream in-process on 127.0.0.1 with compressed token
// lifetimes, builds tokend once and runs replicas as separate processes
// with generated configurations. All traffic stays on loopback; every
// child process is killed on exit, error or signal.
//
//	go run ./cmd/tokenbench            # default sizes, about 6 minutes on 2 cores
//	go run ./cmd/tokenbench -only idle # the idle-cost row alone
//	go run ./cmd/tokenbench -quick     # tiny sizes, a smoke test
//	go run ./cmd/tokenbench -chart cmd/tokenbench/chart/replicas.svg # the replicas chart and its table (chart.go)
//
// Each part's start and end, and the fetch-cycle counts every eighth of
// its window, are reported on stderr; stdout carries only the table.
//
// The exit status is 1 when an invariant breaks (tokend making more than
// one upstream fetch per cycle plus one of slack, handing a reader a dead
// token, or a storm causing other than exactly one fetch) or a part of the
// bench fails to run; goals that are missed are marked in the table but do
// not change the exit status.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/chart"
	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/cmd/tokenbench/internal/upstream"
	"github.com/tokend/tokend/integration/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command-line flags.
type options struct {
	redisURL    string
	quick       bool
	lifetime    time.Duration
	cycleWindow time.Duration
	replicas    []int
	rtt         time.Duration
	benchtime   time.Duration
	updates     int
	trials      int
	leaseTTL    time.Duration
	reports     int
	conns       int
	apps        int
	steady      time.Duration
	idleApps    int
	idleWindow  time.Duration
	idleSettle  time.Duration
	timeout     time.Duration
	keep        bool
	verbose     bool
	authorizers int             // -authorizers: of the Open Platform component (authorizers.go)
	authRate    float64         // -authorizer-rate
	authSteady  time.Duration   // -authorizer-steady
	chart       string          // -chart: the SVG to write (chart mode, chart.go)
	only        map[string]bool // parts to run; empty: all
}

// quickDefaults are the -quick values of flags not given explicitly.
var quickDefaults = map[string]string{
	"lifetime": "3s", "cycle-window": "7s", "replicas": "1,3", "benchtime": "200ms",
	"updates": "200", "trials": "2", "reports": "1000", "conns": "50", "apps": "300",
	"steady": "1s", "timeout": "90s", "idle-apps": "300", "idle-window": "5s", "idle-settle": "2s",
	"authorizers": "300", "authorizer-rate": "200", "authorizer-steady": "3s",
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var replicas string
	fs := flag.NewFlagSet("tokenbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.redisURL, "redis", "", "use this Redis (redis://127.0.0.1:port/db, loopback only) instead of starting redis-server")
	fs.BoolVar(&o.quick, "quick", false, "tiny sizes (a smoke test); explicit flags still win")
	fs.DurationVar(&o.lifetime, "lifetime", 6*time.Second, "token lifetime of the fake upstream in the fetch-cycle figure (whole seconds)")
	fs.DurationVar(&o.cycleWindow, "cycle-window", 20*time.Second, "how long the fetch-cycle figure runs")
	fs.StringVar(&replicas, "replicas", "1,3,7", "replica counts of the fetch-cycle figure")
	fs.DurationVar(&o.rtt, "upstream-rtt", 40*time.Millisecond, "simulated upstream round trip in the fetch-cycle figure (each half uniform in [rtt/4, 3rtt/4])")
	fs.DurationVar(&o.benchtime, "benchtime", time.Second, "run time of each Reader micro-benchmark")
	fs.IntVar(&o.updates, "updates", 1000, "token updates timed for Reader propagation")
	fs.IntVar(&o.trials, "trials", 10, "takeover trials per signal")
	fs.DurationVar(&o.leaseTTL, "lease-ttl", 2*time.Second, "election.lease_ttl of the takeover replicas (other timings scale with it)")
	fs.IntVar(&o.reports, "reports", 10000, "concurrent reports per storm")
	fs.IntVar(&o.conns, "conns", 200, "HTTP client connections of the HTTP storm")
	fs.IntVar(&o.apps, "apps", 10000, "apps in the scale figure")
	fs.DurationVar(&o.steady, "steady", 5*time.Second, "steady-state window of the scale figure")
	fs.IntVar(&o.idleApps, "idle-apps", 10000, "apps in the idle-cost figure")
	fs.DurationVar(&o.idleWindow, "idle-window", 150*time.Second, "measurement window of the idle-cost figure (the goal needs >= 2m)")
	fs.DurationVar(&o.idleSettle, "idle-settle", 40*time.Second, "wait after the idle apps' first tokens before measuring (> one 30s sweep)")
	fs.IntVar(&o.authorizers, "authorizers", 10000, "authorizers of the Open Platform component (-only authorizers)")
	fs.Float64Var(&o.authRate, "authorizer-rate", 100, "authorizer_rate of that component: api_authorizer_token calls a second (0.1..1000)")
	fs.DurationVar(&o.authSteady, "authorizer-steady", 30*time.Second, "steady-state window of the authorizers figures")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound of the whole run")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (configs, replica logs)")
	fs.BoolVar(&o.verbose, "v", false, "log progress to stderr")
	fs.StringVar(&o.chart, "chart", "", "chart mode: run only the fetch-cycle figure for each -replicas count (default "+chartDefaults["replicas"]+") and write its SVG chart to this .svg file and its Markdown table beside it (.md)")
	only := fs.String("only", "", "run only these parts (comma-separated: reader, cycles, takeover, tickets, scale, idle, compat, proxy, authorizers; authorizers runs only when named)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.quick {
		if err := setUnset(fs, quickDefaults); err != nil {
			return o, err
		}
	}
	if o.chart != "" {
		if err := setUnset(fs, chartDefaults); err != nil {
			return o, err
		}
	}
	if *only != "" {
		o.only = map[string]bool{}
		for _, p := range strings.Split(*only, ",") {
			if p = strings.TrimSpace(p); !slices.Contains(partNames, p) {
				return o, fmt.Errorf("-only: unknown part %q (want %s)", p, strings.Join(partNames, ", "))
			}
			o.only[p] = true
		}
	}
	for _, s := range strings.Split(replicas, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 20 {
			return o, fmt.Errorf("-replicas: want counts between 1 and 20, got %q", s)
		}
		o.replicas = append(o.replicas, n)
	}
	switch {
	case o.lifetime < 2*time.Second || o.lifetime%time.Second != 0:
		return o, errors.New("-lifetime: want whole seconds, at least 2s")
	case o.leaseTTL < time.Second:
		return o, errors.New("-lease-ttl: want at least 1s")
	case o.updates < 1 || o.trials < 1 || o.reports < 1 || o.conns < 1 || o.apps < 1 || o.idleApps < 1 || o.authorizers < 1:
		return o, errors.New("-updates, -trials, -reports, -conns, -apps, -idle-apps and -authorizers must be positive")
	case o.authRate < 0.1 || o.authRate > 1000:
		return o, errors.New("-authorizer-rate: want 0.1..1000 calls a second")
	}
	if err := checkChart(&o); err != nil {
		return o, err
	}
	if o.redisURL != "" {
		if err := fleet.CheckLoopback(o.redisURL); err != nil {
			return o, err
		}
	}
	return o, nil
}

// partNames are the parts of the bench, in the order they run ("takeover"
// includes the report storms).
var partNames = []string{"reader", "cycles", "takeover", "tickets", "scale", "idle", "compat", "proxy", "authorizers"}

// bench is one run: its child processes, Redis, fake upstreams and results.
type bench struct {
	fleet.Env
	opts     options
	fast     *upstream.Fake // short lifetimes: the fetch-cycle figure
	slow     *upstream.Fake // WeChat's lifetimes: takeover, storm, scale
	progress io.Writer
	rows     []row
	broken   []string // invariants that broke, and parts that failed

	stderr io.Writer     // progress of long runs, with or without -v
	cycles []chart.Point // the fetch-cycle figures, for -chart
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "tokenbench: "+format+"\n", args...)
}

// fail records a broken invariant or a failed part; the exit status is 1.
func (b *bench) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.broken = append(b.broken, msg)
	b.logf("FAIL: %s", msg)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "tokenbench:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	start := time.Now()
	b := &bench{opts: opts, progress: io.Discard, stderr: stderr}
	b.Procs, b.HTTP = &harness.Procs{}, &http.Client{Timeout: 15 * time.Second}
	if opts.verbose {
		b.progress = stderr
	}
	defer b.Procs.KillAll()
	m, err := b.setup(ctx)
	defer b.teardown()
	if err != nil {
		fmt.Fprintln(stderr, "tokenbench:", err)
		return 1
	}
	b.sections(ctx)
	if ctx.Err() != nil {
		b.fail("run interrupted or over -timeout %s: %v", opts.timeout, ctx.Err())
	}
	if opts.chart != "" {
		b.writeChart(m)
	}
	printTable(stdout, m, b, time.Since(start))
	if len(b.broken) > 0 {
		fmt.Fprintf(stderr, "tokenbench: %d failure(s):\n", len(b.broken))
		for _, f := range b.broken {
			fmt.Fprintln(stderr, "  -", f)
		}
		return 1
	}
	return 0
}

// setup starts Redis and the fakes and builds tokend.
func (b *bench) setup(ctx context.Context) (fleet.Machine, error) {
	var err error
	if b.Dir, err = os.MkdirTemp("", "tokenbench-"); err != nil {
		return fleet.Machine{}, err
	}
	b.Prefix = "tb" + strconv.Itoa(os.Getpid())
	b.Secret, b.APIToken = randomHex(16), randomHex(16)
	b.logf("work directory %s", b.Dir)
	b.RedisURL = b.opts.redisURL
	if b.RedisURL == "" {
		if b.RedisURL, err = fleet.StartRedis(ctx, b.Procs, b.Dir); err != nil {
			return fleet.Machine{}, err
		}
	}
	if b.RDB, err = fleet.NewRedisClient(b.RedisURL, 64); err != nil {
		return fleet.Machine{}, err
	}
	if err := b.RDB.Ping(ctx).Err(); err != nil {
		return fleet.Machine{}, fmt.Errorf("redis %s: %w", b.RedisURL, err)
	}
	b.stepf("building tokend")
	if b.Bin, err = fleet.BuildTokend(ctx, b.Dir); err != nil {
		return fleet.Machine{}, err
	}
	b.fast = upstream.NewFast(b.opts.lifetime)
	b.slow = upstream.New(upstream.SlowConfig())
	return fleet.DescribeMachine(ctx, b.RDB), nil
}

// teardown kills children, closes the fakes and removes the work directory
// (unless -keep) and, with -redis, this run's keys.
func (b *bench) teardown() {
	b.Procs.KillAll()
	if b.fast != nil {
		b.fast.Close()
	}
	if b.slow != nil {
		b.slow.Close()
	}
	if b.RDB != nil {
		if b.opts.redisURL != "" {
			fleet.DeleteRunKeys(b.RDB, b.Prefix)
		}
		_ = b.RDB.Close()
	}
	if b.Dir != "" && !b.opts.keep {
		_ = os.RemoveAll(b.Dir)
	} else if b.Dir != "" {
		fmt.Fprintln(os.Stderr, "tokenbench: work directory kept:", b.Dir)
	}
}

// sections runs every figure; a failing part is recorded and the others
// still run.
func (b *bench) sections(ctx context.Context) {
	parts := []struct {
		name string
		f    func(context.Context) error
	}{
		{"reader", b.readerFigures},
		{"cycles", b.cycleFigures},
		{"takeover", b.takeoverAndStorm},
		{"tickets", b.ticketFigures},
		{"scale", b.scaleFigures},
		{"idle", b.idleFigure},
		{"compat", b.compatFigures},
		{"proxy", b.proxyFigures},            // proxy.go
		{"authorizers", b.authorizerFigures}, // authorizers.go
	}
	for _, p := range parts {
		if ctx.Err() != nil {
			return
		}
		if len(b.opts.only) > 0 && !b.opts.only[p.name] {
			continue
		}
		if p.name == "idle" && b.opts.quick && !b.opts.only["idle"] {
			continue // minutes long: -quick runs it only when asked
		}
		if p.name == "authorizers" && !b.opts.only["authorizers"] {
			continue // minutes long: run only when asked
		}
		b.stepf("== %s", p.name)
		t := time.Now()
		if err := p.f(ctx); err != nil {
			b.fail("%s: %v", p.name, err)
			b.rows = append(b.rows, row{figure: p.name, tokend: "error: " + err.Error(), status: statusFail})
		}
		b.stepf("== %s done in %s", p.name, time.Since(t).Round(time.Millisecond))
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// slowAppsDeployment registers n apps named prefix00000... with the fake
// upstream of WeChat's real lifetime (b.slow) and prepares a deployment
// named name that keeps them.
func (b *bench) slowAppsDeployment(name, prefix string, n int) ([]string, *fleet.Deployment, error) {
	ids := b.slowApps(prefix, n)
	d, err := b.NewDeployment(name, ids, b.slow.URL)
	return ids, d, err
}

func (b *bench) slowApps(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%05d", prefix, i)
		b.slow.AddApp(ids[i], b.Secret)
	}
	return ids
}

// fillSlowApps registers n slow apps (slowApps) and fills them (fleet.Env.Fill).
func (b *bench) fillSlowApps(ctx, sctx context.Context, name, prefix string, n, replicas int, minLimit time.Duration) (*fleet.Deployment, []string, time.Time, error) {
	return b.Fill(ctx, sctx, name, b.slowApps(prefix, n), b.slow.URL, replicas, minLimit)
}
