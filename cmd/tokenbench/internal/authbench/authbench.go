// Package authbench measures one Open Platform component keeping many
// authorizers (issue 18): a leader and a follower tokend process on a real
// redis-server, the fake WeChat holding the authorizers (found by tokend
// through api_get_authorizer_list, as after a lost Redis), and the
// authorizers refreshed at the component's authorizer_rate. It measures
// the first fill, the leader's steady RSS, Redis's steady commands (per
// command, against the refresh work expected of the schedule) and the
// recovery after the authorizer list is deleted.
//
// It does not read tokens over HTTP, nor judge the served tokens with the
// fake (integration/authorizers_test.go does); a run's figures are only as
// steady as the machine it runs on.
package authbench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/cmd/tokenbench/internal/upstream"
	"github.com/tokend/tokend/store/platform"
)

// Names of the measured component.
const (
	ComponentID = "op-bench"
	compAppID   = "wxtbcomponent00001"
	authPrefix  = "wxtba"
	replicas    = 2 // a leader and a follower
)

// BeforeExpiry is refresh.before_expiry of the replicas: an authorizer
// token is refreshed this long before its expiry, spread over a further
// quarter of it (keeper.Keeper).
const BeforeExpiry = 10 * time.Minute

// Config is one run. Env, Upstream and Logf are required.
type Config struct {
	Env *fleet.Env
	// Upstream is the fake WeChat; its token lifetime is Lifetime
	// (WeChat's 2 h: nothing is due again within the run, so the steady
	// window shows the cost beyond refresh work).
	Upstream *upstream.Fake
	Lifetime time.Duration
	// Authorizers is how many the component has; Rate its
	// authorizer_rate (calls a second).
	Authorizers int
	Rate        float64
	// Steady is the steady-state window.
	Steady time.Duration
	Logf   func(format string, args ...any)
}

// Result is what a run measured.
type Result struct {
	Fill          time.Duration  // replicas started -> every authorizer has a token
	FromComponent time.Duration  // the component token -> every authorizer has a token
	Ideal         time.Duration  // Authorizers / Rate
	FillFetches   int            // api_authorizer_token calls answered in the fill
	FillCommands  int64          // Redis commands in the fill (commandstats)
	FillPerCmd    fleet.Commands // the same by command name
	ListCalls     int            // api_get_authorizer_list calls in the fill

	RSS         int64 // the leader's max VmRSS in the steady window, bytes
	Steady      fleet.Steady
	PerCommand  fleet.Commands // commands in the steady window by name
	RefreshRate float64        // refreshes a second the schedule expects in the long run
	PerRefresh  float64        // Redis commands per refresh (fill commands / fill fetches)

	Recovery Recovery
}

// Recovery is what followed the deletion of the authorizer list.
type Recovery struct {
	Rebuilt      time.Duration // DEL -> the hash has every authorizer again
	ListCalls    int           // api_get_authorizer_list calls meanwhile
	Fetches      int           // api_authorizer_token calls meanwhile (none is due)
	Lost         int           // authorizers missing from the hash
	Mismatched   int           // stored refresh token != the upstream's current one
	Invalid      int           // authorizers without a valid token
	Refused61023 int           // 61023 answers meanwhile
	Resumed      time.Duration // rebuilt -> a new authorization's first token
}

// Run runs the figures; the caller stops nothing (Run stops its replicas).
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Env == nil || cfg.Upstream == nil || cfg.Logf == nil || cfg.Authorizers < 1 || cfg.Rate <= 0 {
		return Result{}, errors.New("authbench: Env, Upstream, Logf, Authorizers and Rate are required")
	}
	r := &runner{cfg: cfg, up: cfg.Upstream}
	defer r.close()
	if err := r.start(ctx); err != nil {
		return Result{}, err
	}
	res, err := r.fill(ctx)
	if err != nil {
		return res, err
	}
	if err := r.steady(ctx, &res); err != nil {
		return res, err
	}
	res.Recovery, err = r.recover(ctx)
	return res, err
}

// runner is one run's state.
type runner struct {
	cfg  Config
	up   *upstream.Fake
	d    *fleet.Deployment
	lb   *balancer
	ids  []string
	toks *tokenCounter
	t0   time.Time // replicas started
}

func (r *runner) close() {
	if r.d != nil {
		r.d.Stop()
	}
	if r.lb != nil {
		r.lb.Close()
	}
	if r.toks != nil {
		r.toks.Close()
	}
}

// start registers the component and its authorizers with the fake and
// starts the replicas with an empty hash: the leader gets a verify ticket
// (api_start_push_ticket), the component token, then the authorizer list.
func (r *runner) start(ctx context.Context) error {
	var err error
	r.lb = newBalancer()
	if err := r.up.AddComponent(componentOf(r.lb.URL, r.cfg.Env.Secret)); err != nil {
		return err
	}
	if r.ids, err = r.up.AddAuthorizers(compAppID, authPrefix, r.cfg.Authorizers); err != nil {
		return err
	}
	if r.d, err = r.cfg.Env.NewDeployment("ab", nil, r.up.URL); err != nil {
		return err
	}
	r.d.Comps = []fleet.Component{fleet.NewComponent(ComponentID, compAppID, r.up.URL, r.cfg.Rate)}
	r.d.Refresh.BeforeExpiry = BeforeExpiry.String()
	r.d.LogLevel = "warn" // 10,000 refreshes would fill the log
	if r.toks, err = countTokens(ctx, r.d, ComponentID); err != nil {
		return err
	}
	r.t0 = time.Now()
	if err := r.d.StartReplicas(ctx, replicas, 60*time.Second); err != nil {
		return err
	}
	r.lb.SetTargets(r.d.Reps)
	return nil
}

// fill waits until every authorizer has a token: at most twice the ideal
// plus a minute.
func (r *runner) fill(ctx context.Context) (Result, error) {
	res := Result{Ideal: time.Duration(float64(r.cfg.Authorizers) / r.cfg.Rate * float64(time.Second))}
	s0 := r.up.AuthorizerStats(compAppID)
	c0, err := fleet.CommandStats(ctx, r.cfg.Env.RDB)
	if err != nil {
		return res, err
	}
	limit := 2*res.Ideal + time.Minute
	r.cfg.Logf("authorizers: %d authorizers at %.0f/s: ideal first fill %s, waiting at most %s", r.cfg.Authorizers, r.cfg.Rate, res.Ideal, limit)
	if err := r.toks.WaitAll(ctx, r.cfg.Authorizers, limit, r.cfg.Logf); err != nil {
		return res, fmt.Errorf("first fill: %w (see %s)", err, r.d.Reps[0].LogPath)
	}
	done := time.Now()
	res.Fill = done.Sub(r.t0)
	if ct := r.toks.Component(); !ct.IsZero() {
		res.FromComponent = done.Sub(ct)
	}
	c1, err := fleet.CommandStats(ctx, r.cfg.Env.RDB)
	if err != nil {
		return res, err
	}
	s1 := r.up.AuthorizerStats(compAppID)
	res.FillFetches, res.ListCalls = s1.TokenFetches-s0.TokenFetches, s1.ListCalls-s0.ListCalls
	res.FillPerCmd = c1.Sub(c0)
	res.FillCommands = c1.Total() - c0.Total()
	res.PerRefresh = float64(res.FillCommands) / float64(max(res.FillFetches, 1))
	if missing, err := r.d.CountMissing(ctx, r.tokenIDs()); err != nil || missing > 0 {
		return res, fmt.Errorf("%d authorizers without a token key after the fill (err %v)", missing, err)
	}
	return res, nil
}

func (r *runner) tokenIDs() []string {
	out := make([]string, len(r.ids))
	for i, id := range r.ids {
		out[i] = platform.AuthorizerID(ComponentID, id)
	}
	return out
}

// steady samples the leader and Redis over cfg.Steady after a settle of
// two HLEN periods and one summary write.
func (r *runner) steady(ctx context.Context, res *Result) error {
	leader, _, err := r.d.WaitLeader(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	if err := fleet.Sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	c0, err := fleet.CommandStats(ctx, r.cfg.Env.RDB)
	if err != nil {
		return err
	}
	ss, err := fleet.SteadyState(ctx, r.cfg.Env.RDB, leader.Proc.Pid(), r.cfg.Steady)
	if err != nil {
		return err
	}
	c1, err := fleet.CommandStats(ctx, r.cfg.Env.RDB)
	if err != nil {
		return err
	}
	res.Steady, res.RSS, res.PerCommand = ss, ss.RSS, c1.Sub(c0)
	res.RefreshRate = RefreshRate(r.cfg.Authorizers, r.lifetime())
	return nil
}

func (r *runner) lifetime() time.Duration {
	if r.cfg.Lifetime > 0 {
		return r.cfg.Lifetime
	}
	return 2 * time.Hour
}

// RefreshRate is the refreshes a second n authorizers cost in the long
// run with tokens of life: each is refreshed BeforeExpiry (at most half
// the life) ahead, plus on average an eighth of that later.
func RefreshRate(n int, life time.Duration) float64 {
	lead := min(BeforeExpiry, life/2)
	return float64(n) / (life - lead + lead/8).Seconds()
}

// Breakdown formats the largest per-command rates of counts over window,
// at most top of them and the rest as "other".
func Breakdown(counts fleet.Commands, window time.Duration, top int) string {
	type kv struct {
		name string
		n    int64
	}
	var list []kv
	for k, v := range counts {
		if v > 0 {
			list = append(list, kv{k, v})
		}
	}
	slices.SortFunc(list, func(a, b kv) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	var parts []string
	var other int64
	for i, e := range list {
		if i < top {
			parts = append(parts, fmt.Sprintf("%s %.2f", strings.ToUpper(e.name), float64(e.n)/window.Seconds()))
		} else {
			other += e.n
		}
	}
	if other > 0 {
		parts = append(parts, fmt.Sprintf("other %.2f", float64(other)/window.Seconds()))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
