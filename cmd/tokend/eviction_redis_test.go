package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// evictionEnv is one in-process replica on a real redis-server.
type evictionEnv struct {
	t    *testing.T
	rdb  *redis.Client
	up   *wechattest.Server
	logs *syncBuffer
	stop func()
}

func startEvictionEnv(t *testing.T, redisArgs ...string) *evictionEnv {
	srv := redisserver.Start(t, redisArgs...)
	up := wechattest.NewServer(wechattest.Config{Lifetime: 2 * time.Hour})
	t.Cleanup(up.Close)
	up.AddApp("wxevict", "evict-secret")
	y := fmt.Sprintf(`
replica_id: evict
redis: {url: "redis://%s/0", timeout: 200ms}
http: {listen: ""}
election: {lease_ttl: 3s, renew_interval: 500ms, renew_deadline: 2s, retry_interval: 200ms}
refresh: {cooldown: 100ms}
apps: [{id: app, provider: wechat, appid: wxevict, secret_env: SECRET, base_url: "%s"}]
`, srv.Addr, up.URL)
	env := map[string]string{"SECRET": "evict-secret"}
	cfg, _, err := parseConfig([]byte(y), func(k string) string { return env[k] }, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	d, err := newDaemon(cfg, newLogger(logs, "text", slog.LevelInfo), daemonOptions{getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	e := &evictionEnv{t: t, rdb: srv.Client(), up: up, logs: logs, stop: sync.OnceFunc(func() { cancel(); <-done })}
	t.Cleanup(e.stop)
	if _, ok := e.waitToken(10 * time.Second); !ok {
		t.Fatalf("no token; logs:\n%s", logs.String())
	}
	return e
}

// waitToken waits for a token in Redis and returns how long it took.
func (e *evictionEnv) waitToken(bound time.Duration) (time.Duration, bool) {
	return wait.Poll(bound, func() bool { return e.rdb.Exists(context.Background(), "{tokend}:token:app").Val() == 1 })
}

// TestEviction_warnsAtStart: allkeys-lru on a real redis-server makes
// tokend warn at start (issue 11 item 16).
func TestEviction_warnsAtStart(t *testing.T) {
	e := startEvictionEnv(t, "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")
	if !strings.Contains(e.logs.String(), "maxmemory-policy allkeys-lru may evict any of tokend's keys") {
		t.Errorf("no eviction warning at start:\n%s", e.logs.String())
	}
}

// TestEviction_noWarningWithNoeviction: the default policy is quiet.
func TestEviction_noWarningWithNoeviction(t *testing.T) {
	e := startEvictionEnv(t, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
	if strings.Contains(e.logs.String(), "maxmemory-policy") {
		t.Fatalf("warned with noeviction:\n%s", e.logs.String())
	}
}

// TestEviction_costs measures, on a real redis-server, what the eviction
// of each of tokend's keys costs (issue 11 item 16): on a fresh replica
// the key is deleted as an eviction would, and the test logs upstream
// fetches, epoch changes and how long no token was in Redis; then memory
// is filled under allkeys-lru to see which keys Redis actually evicts.
// It takes minutes, so it runs only with TOKEND_MEASURE_EVICTION=1 (-v
// for the figures, which README's notes quote).
func TestEviction_costs(t *testing.T) {
	if os.Getenv("TOKEND_MEASURE_EVICTION") == "" {
		t.Skip("measurement: set TOKEND_MEASURE_EVICTION=1")
	}
	ctx := context.Background()
	for _, k := range []string{"status:app", "budget:app", "ticket:app", "meta:app", "epoch", "lease", "token:app"} {
		e := startEvictionEnv(t, "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")
		wait.Hold(t, time.Second, "settle: status written, lease renewed")
		key := "{tokend}:" + k
		epoch := func() string { return e.rdb.HGet(ctx, "{tokend}:epoch", "epoch").Val() }
		fetches, ep, tok := e.up.Audit().TotalFetches, epoch(), e.rdb.Get(ctx, "{tokend}:token:app").Val()
		budget := e.rdb.HGetAll(ctx, "{tokend}:budget:app").Val()
		e.rdb.Del(ctx, key)
		gap, ok := e.waitToken(40 * time.Second)
		wait.Hold(t, 4*time.Second, "let the leader act on what it finds")
		t.Logf("evicted %-11s: upstream fetches +%d, epoch %s -> %s, token changed %v, no token for %s (back %v), key back %v, budget %v -> %v",
			k, e.up.Audit().TotalFetches-fetches, ep, epoch(), e.rdb.Get(ctx, "{tokend}:token:app").Val() != tok, gap.Round(time.Millisecond), ok,
			e.rdb.Exists(ctx, key).Val() == 1, budget, e.rdb.HGetAll(ctx, "{tokend}:budget:app").Val())
		e.stop()
	}
	e := startEvictionEnv(t, "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")
	wait.Hold(t, time.Second, "settle: status written, lease renewed")
	keys, _ := e.rdb.Keys(ctx, "{tokend}:*").Result()
	for _, k := range keys {
		t.Logf("key %-28s type %-6s ttl %s", k, e.rdb.Type(ctx, k).Val(), e.rdb.PTTL(ctx, k).Val())
	}
	fetches := e.up.Audit().TotalFetches
	val := strings.Repeat("x", 1024)
	for i := 0; i < 8000; i++ {
		e.rdb.Set(ctx, fmt.Sprintf("cache:%d", i), val, 0)
	}
	var lost []string
	for _, k := range keys {
		if e.rdb.Exists(ctx, k).Val() == 0 {
			lost = append(lost, k)
		}
	}
	gap, ok := e.waitToken(40 * time.Second)
	wait.Hold(t, 4*time.Second, "let the leader act on what it finds")
	t.Logf("8 MB of cache keys into 2 MB: tokend keys lost %v; upstream fetches +%d; token back after %s (%v)",
		lost, e.up.Audit().TotalFetches-fetches, gap.Round(time.Millisecond), ok)
}
