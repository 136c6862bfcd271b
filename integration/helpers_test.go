package integration

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
)

// Names shared by the scenarios.
const (
	appID     = "mp-main"            // tokend app id
	upstream  = "wx00000000000it001" // upstream appid
	appSecret = "it-secret-0001"
)

var keys, _ = store.NewKeys(store.DefaultPrefix)

// env is one scenario's world: a real redis-server, the fake upstream and a
// cluster of tokend replicas (not started).
type env struct {
	t        *testing.T
	redis    *redisserver.Server
	rdb      *redis.Client
	srv      *wechattest.Server
	cluster  *harness.Cluster
	lifetime time.Duration
	start    time.Time
}

type envOptions struct {
	Lifetime, Overlap time.Duration
	// RedisAddr is what replicas connect to; default the server itself.
	RedisAddr func(real string) string
	// Tweak adjusts the cluster config.
	Tweak func(*harness.Config)
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	rs := redisserver.Start(t)
	srv := wechattest.NewServer(wechattest.Config{Lifetime: o.Lifetime, Overlap: o.Overlap, DailyQuota: -1})
	t.Cleanup(srv.Close)
	srv.AddApp(upstream, appSecret)
	addr := rs.Addr
	if o.RedisAddr != nil {
		addr = o.RedisAddr(rs.Addr)
	}
	cfg := harness.Config{
		Redis: harness.StandaloneRedis(addr, ""),
		Apps:  []harness.App{{ID: appID, AppID: upstream, Secret: appSecret, BaseURL: srv.URL}},
	}
	if o.Tweak != nil {
		o.Tweak(&cfg)
	}
	return &env{
		t: t, redis: rs, rdb: rs.Client(), srv: srv,
		cluster: harness.NewCluster(t, cfg), lifetime: o.Lifetime, start: time.Now(),
	}
}

// checker starts the invariant checker on the scenario's app.
func (e *env) checker(report bool, tweak ...func(*harness.CheckerConfig)) *harness.Checker {
	cfg := harness.CheckerConfig{Server: e.srv, Redis: e.rdb, App: appID, AppID: upstream, Report: report}
	for _, f := range tweak {
		f(&cfg)
	}
	return harness.StartChecker(e.t, cfg)
}

// fetches is the number of tokens the upstream issued to tokend.
func (e *env) fetches() int { return e.srv.Audit().Fetches[upstream+"/token"] }

// version is the app's write counter in Redis (0 when absent).
func (e *env) version() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	v, _ := e.rdb.HGet(ctx, keys.Meta(appID), "version").Int64()
	return v
}

// meta returns a field of the app's meta hash.
func (e *env) meta(field string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return e.rdb.HGet(ctx, keys.Meta(appID), field).Val()
}

// storedToken is the raw token key ("" when absent).
func (e *env) storedToken() string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return e.rdb.Get(ctx, keys.Token(appID)).Val()
}

// termLeader is the leader recorded in the {tokend}:epoch hash.
func (e *env) termLeader() (string, int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	m := e.rdb.HGetAll(ctx, keys.Epoch()).Val()
	n, _ := strconv.ParseInt(m["epoch"], 10, 64)
	return m["leader"], n
}

// waitVersion waits until the stored version exceeds v and returns it.
func (e *env) waitVersion(v int64, timeout time.Duration) int64 {
	e.t.Helper()
	var n int64
	wait.For(e.t, timeout, fmt.Sprintf("a token write after version %d", v), func() bool { n = e.version(); return n > v })
	return n
}

// cycleBounds are the fewest and most refresh cycles a correct leader makes
// in elapsed with token lifetime l: it refreshes at half life, jittered
// earlier by up to 5% of the lifetime, plus fetch latency (slack).
func cycleBounds(elapsed, l time.Duration) (lo, hi int) {
	lo = int(elapsed/(l/2+100*time.Millisecond)) - 1
	hi = int(elapsed/(l*45/100)) + 1
	return max(lo, 0), hi
}

// assertFetches checks the fetch invariant: every fetch produced the token
// that was stored (fetches = writes, + slack for fetches in flight or lost
// to a kill), and the number of writes fits the refresh schedule.
func assertFetches(t *testing.T, fetches, writes, slack int, elapsed, l time.Duration, extraCycles int) {
	t.Helper()
	if fetches < writes || fetches > writes+slack {
		t.Errorf("fetches = %d, token writes = %d: want fetches = writes (+%d at most): a fetch was wasted", fetches, writes, slack)
	}
	lo, hi := cycleBounds(elapsed, l)
	hi += extraCycles
	if writes < lo || writes > hi {
		t.Errorf("token writes = %d in %s with lifetime %s: want %d..%d (one per refresh cycle)", writes, elapsed.Round(time.Millisecond), l, lo, hi)
	}
}

// assertNoDead checks that no reader was handed a dead token.
func assertNoDead(t *testing.T, st harness.Stats) {
	t.Helper()
	if n := st.DeadTotal(); n != 0 {
		t.Errorf("readers were handed %d dead tokens (get %v, lib %v), want 0", n, st.Get.DeadByCode, st.Lib.DeadByCode)
	}
	if st.Get.Reads == 0 {
		t.Errorf("checker made no successful plain read: the invariant was not exercised")
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }
