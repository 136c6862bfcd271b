package redisserver

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/wait"
)

// ClusterOptions configures StartCluster. Zero values take the defaults
// named.
type ClusterOptions struct {
	// Masters is the number of masters. Default 3 (redis-cli's minimum).
	Masters int
	// ReplicasPerMaster is redis-cli's --cluster-replicas. Default 0; a
	// CLUSTER FAILOVER needs 1.
	ReplicasPerMaster int
	// NodeTimeout is cluster-node-timeout. Default 2s.
	NodeTimeout time.Duration
}

// Cluster is a Redis Cluster of redis-server processes on loopback, built
// with `redis-cli --cluster create`.
type Cluster struct {
	Nodes []*Proc

	tb       testing.TB
	replicas int // per master
}

// StartCluster starts Masters*(1+ReplicasPerMaster) nodes, joins them with
// redis-cli and waits until every node says cluster_state:ok and knows
// every node. Skips or fails like Start when redis-server or redis-cli is
// missing.
func StartCluster(tb testing.TB, opts ClusterOptions) *Cluster {
	tb.Helper()
	if opts.Masters == 0 {
		opts.Masters = 3
	}
	if opts.NodeTimeout == 0 {
		opts.NodeTimeout = 2 * time.Second
	}
	cli := Binary(tb, "redis-cli")
	conf := fmt.Sprintf("cluster-enabled yes\ncluster-config-file nodes.conf\n"+
		"cluster-node-timeout %d\nsave \"\"\nappendonly no\n", opts.NodeTimeout.Milliseconds())
	c := &Cluster{tb: tb, replicas: opts.ReplicasPerMaster}
	n := opts.Masters * (1 + opts.ReplicasPerMaster)
	for range n {
		c.Nodes = append(c.Nodes, startProc(tb, conf))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(opts.ReplicasPerMaster), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redisserver: redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(30 * time.Second)
	return c
}

// Addrs returns every node's address.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, p := range c.Nodes {
		out[i] = p.Addr
	}
	return out
}

// WaitHealthy waits until every node says cluster_state:ok, knows all
// nodes, and all nodes agree on which master serves each slot and see
// all of its replicas.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.tb.Helper()
	wait.For(c.tb, timeout, "cluster_state:ok on every node", func() bool {
		var want string
		for _, p := range c.Nodes {
			info, err := clusterInfo(p.Addr)
			if err != nil || !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d\r\n", len(c.Nodes))) {
				return false
			}
			m, err := slotMasters(p.Addr, 1+c.replicas)
			if err != nil {
				return false
			}
			if want == "" {
				want = m
			} else if m != want {
				return false
			}
		}
		return true
	})
}

func nodeClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 300 * time.Millisecond,
		ReadTimeout: 500 * time.Millisecond, MaxRetries: -1})
}

func clusterInfo(addr string) (string, error) {
	c := nodeClient(addr)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.ClusterInfo(ctx).Result()
}

// slotMasters describes which master serves which slot range, as addr sees
// it; an error unless each range has nodes nodes.
func slotMasters(addr string, nodes int) (string, error) {
	c := nodeClient(addr)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	slots, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		return "", err
	}
	var parts []string
	for _, s := range slots {
		if len(s.Nodes) != nodes {
			return "", fmt.Errorf("slots %d-%d have %d nodes, want %d", s.Start, s.End, len(s.Nodes), nodes)
		}
		parts = append(parts, fmt.Sprintf("%d-%d=%s", s.Start, s.End, s.Nodes[0].Addr))
	}
	return strings.Join(parts, ","), nil
}

// MasterFor returns the address of the master serving key's slot and of
// its replicas, as the first answering node sees it.
func (c *Cluster) MasterFor(key string) (master string, replicas []string, err error) {
	for _, p := range c.Nodes {
		cl := nodeClient(p.Addr)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var slot int64
		var slots []redis.ClusterSlot
		slot, err = cl.ClusterKeySlot(ctx, key).Result()
		if err == nil {
			slots, err = cl.ClusterSlots(ctx).Result()
		}
		cancel()
		_ = cl.Close()
		if err != nil {
			continue
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
				for _, n := range s.Nodes[1:] {
					replicas = append(replicas, n.Addr)
				}
				return s.Nodes[0].Addr, replicas, nil
			}
		}
		err = fmt.Errorf("no node serves slot %d", slot)
	}
	return "", nil, fmt.Errorf("redisserver: master for %q: %w", key, err)
}

// Failover runs CLUSTER FAILOVER (the coordinated, lossless kind) on a
// replica of the master serving key, waits until the replica has taken over
// and the cluster is healthy again, and returns the old and new master.
func (c *Cluster) Failover(key string) (oldMaster, newMaster string) {
	c.tb.Helper()
	old, replicas, err := c.MasterFor(key)
	if err != nil {
		c.tb.Fatal(err)
	}
	if len(replicas) == 0 {
		c.tb.Fatalf("redisserver: %s has no replica to fail over to (ClusterOptions.ReplicasPerMaster)", old)
	}
	repl := replicas[0]
	cl := nodeClient(repl)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.ClusterFailover(ctx).Err(); err != nil {
		c.tb.Fatalf("redisserver: CLUSTER FAILOVER on %s: %v", repl, err)
	}
	wait.For(c.tb, 20*time.Second, repl+" to become master", func() bool {
		m, _, err := c.MasterFor(key)
		return err == nil && sameAddr(m, repl) && infoField(repl, "replication", "role") == "master"
	})
	c.WaitHealthy(20 * time.Second)
	return old, repl
}

func sameAddr(a, b string) bool {
	ah, ap, _ := net.SplitHostPort(a)
	bh, bp, _ := net.SplitHostPort(b)
	return ap == bp && (ah == bh || ah == "" || bh == "")
}
