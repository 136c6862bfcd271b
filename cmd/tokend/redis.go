package main

import (
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/cmd/tokend/internal/config"
)

// newRedis builds the client for standalone, Sentinel or Cluster. Timeouts
// are short (redis.timeout, default 1s) and retries few, so that one call
// never outlasts the lease: go-redis defaults (5s dial, 3 retries) could.
// ContextTimeoutEnabled makes a context deadline bound the socket reads
// and writes too: without it go-redis waits for redis.timeout whatever
// the deadline of the lease operation (issue 11, item 1).
func newRedis(rc config.RedisConfig, getenv func(string) string) (redis.UniversalClient, error) {
	password := ""
	if rc.PasswordEnv != "" {
		password = getenv(rc.PasswordEnv)
	}
	t := rc.Timeout
	switch {
	case rc.Sentinel != nil:
		sp := ""
		if rc.Sentinel.PasswordEnv != "" {
			sp = getenv(rc.Sentinel.PasswordEnv)
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: rc.Sentinel.MasterName, SentinelAddrs: rc.Sentinel.Addrs, SentinelPassword: sp,
			Username: rc.Username, Password: password, DialTimeout: t, ReadTimeout: t, WriteTimeout: t, MaxRetries: 1,
			ContextTimeoutEnabled: true, MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
		}), nil
	case rc.Cluster != nil:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: rc.Cluster.Addrs, Username: rc.Username, Password: password, DialTimeout: t, ReadTimeout: t, WriteTimeout: t,
			MaxRetries: 1, MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
			ContextTimeoutEnabled: true,
		}), nil
	}
	opt, err := redis.ParseURL(rc.URL)
	if err != nil {
		return nil, errors.New("redis.url: not a valid Redis URL") // err may quote the password
	}
	if password != "" {
		opt.Password = password
	}
	if rc.Username != "" {
		opt.Username = rc.Username
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = t, t, t
	opt.MaxRetries, opt.MinRetryBackoff, opt.MaxRetryBackoff = 1, 10*time.Millisecond, 100*time.Millisecond
	opt.ContextTimeoutEnabled = true
	return redis.NewClient(opt), nil
}
