// Package eviction checks, at start, that Redis will not evict tokend's
// keys: it reads maxmemory-policy (INFO memory) from every master and
// logs a WARN for a policy that can evict them. It never fails a start
// and does not watch for a policy changed later.
package eviction

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Warning says what Redis's maxmemory-policy may evict of
// tokend's keys, or "" when it evicts none (noeviction). Keys with a TTL
// are the lease, the token keys and the budgets; the others (epoch,
// tickets, meta, status, reports) have none. maxmemory 0 means no limit:
// a 64-bit Redis then never evicts, but the policy still takes effect the
// moment someone sets a limit, so it is warned about too.
func Warning(policy string, maxmemory int64) string {
	var what string
	switch {
	case policy == "noeviction":
		return ""
	case strings.HasPrefix(policy, "allkeys-"):
		what = "any of tokend's keys: the lease and epoch (leadership changes hands), tickets and meta (the fencing state), " +
			"budgets (the daily limit forgets the day's fetches), token keys (no token served until the leader's next check, then an upstream fetch)"
	case strings.HasPrefix(policy, "volatile-"):
		what = "tokend's keys that carry a TTL: the lease (leadership changes hands), token keys (no token served until " +
			"the leader's next check, then an upstream fetch) and budgets (the daily limit forgets the day's fetches)"
	default:
		what = "keys tokend relies on (unknown policy)"
	}
	when := "under memory pressure"
	if maxmemory == 0 {
		when = "as soon as maxmemory is set (now 0: no limit)"
	}
	return fmt.Sprintf("redis: maxmemory-policy %s may evict %s %s; give tokend a dedicated Redis (or one whose policy is noeviction)",
		policy, what, when)
}

// parseInfoMemory reads maxmemory and maxmemory_policy from INFO memory.
func parseInfoMemory(info string) (policy string, maxmemory int64, ok bool) {
	var haveMax bool
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch k {
		case "maxmemory_policy":
			policy = v
		case "maxmemory":
			n, err := strconv.ParseInt(v, 10, 64)
			maxmemory, haveMax = n, err == nil
		}
	}
	return policy, maxmemory, policy != "" && haveMax
}

// Check reads INFO memory from every master and logs one WARN per
// node whose policy can evict tokend's keys, or one saying it could not be
// read (a restrictive ACL refuses INFO). It never fails the start.
func Check(ctx context.Context, rdb redis.UniversalClient, log *slog.Logger) {
	check := func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "memory").Result()
		if err != nil {
			log.Warn("redis: could not read maxmemory-policy (INFO memory); make sure this Redis never evicts tokend's keys (maxmemory-policy noeviction)",
				"addr", c.Options().Addr, "err", err)
			return nil
		}
		policy, maxmemory, ok := parseInfoMemory(info)
		if !ok {
			log.Warn("redis: INFO memory has no maxmemory_policy; make sure this Redis never evicts tokend's keys", "addr", c.Options().Addr)
			return nil
		}
		if msg := Warning(policy, maxmemory); msg != "" {
			log.Warn(msg, "addr", c.Options().Addr, "maxmemory", maxmemory)
		}
		return nil
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		var mu sync.Mutex // ForEachMaster runs in parallel; keep lines whole and ordered per node
		err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return check(ctx, n)
		})
		if err != nil {
			log.Warn("redis: could not read maxmemory-policy of the cluster's masters; make sure they never evict tokend's keys (maxmemory-policy noeviction)", "err", err)
		}
	case *redis.Client:
		_ = check(ctx, c)
	}
}
