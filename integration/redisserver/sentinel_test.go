package redisserver

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/wait"
)

func TestStartSentinels_failover(t *testing.T) {
	s := StartSentinels(t, SentinelOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got, err := s.MasterAddr(ctx); err != nil || got != s.Master.Addr {
		t.Fatalf("MasterAddr = %q, %v; want %s", got, err, s.Master.Addr)
	}
	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.Addrs()})
	defer fc.Close()
	if err := fc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Failover(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.WaitNewMaster(20*time.Second, s.Master.Addr); got != s.Replica.Addr {
		t.Fatalf("new master %s, want the replica %s", got, s.Replica.Addr)
	}
	wait.For(t, 10*time.Second, "the failover client to read k from the new master", func() bool {
		v, err := fc.Get(ctx, "k").Result()
		return err == nil && v == "v"
	})
}

func TestProxy_Cut(t *testing.T) {
	m := Start(t)
	p := StartProxy(t, m.Addr)
	c := redis.NewClient(&redis.Options{Addr: p.Addr, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx := context.Background()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING through a cut proxy answered")
	}
}
