package redisserver

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/wait"
)

func TestStartCluster_failover(t *testing.T) {
	c := StartCluster(t, ClusterOptions{ReplicasPerMaster: 1})
	if len(c.Nodes) != 6 {
		t.Fatalf("%d nodes, want 6", len(c.Nodes))
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cc.Set(ctx, "{tokend}:x", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old, nu := c.Failover("{tokend}:x")
	if old == nu {
		t.Fatalf("master unchanged: %s", old)
	}
	wait.For(t, 10*time.Second, "the cluster client to read from the new master", func() bool {
		v, err := cc.Get(ctx, "{tokend}:x").Result()
		return err == nil && v == "1"
	})
}
