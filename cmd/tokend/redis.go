package main

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// newRedis builds the client for standalone, Sentinel or Cluster. Timeouts
// are short (redis.timeout, default 1s) and retries few, so that one call
// never outlasts the lease: go-redis defaults (5s dial, 3 retries) could.
func newRedis(rc RedisConfig, getenv func(string) string) (redis.UniversalClient, error) {
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
			Password: password, DialTimeout: t, ReadTimeout: t, WriteTimeout: t, MaxRetries: 1,
			MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
		}), nil
	case rc.Cluster != nil:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: rc.Cluster.Addrs, Password: password, DialTimeout: t, ReadTimeout: t, WriteTimeout: t,
			MaxRetries: 1, MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
		}), nil
	}
	opt, err := redis.ParseURL(rc.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url: does not parse (%T)", err) // the error may quote the password
	}
	if password != "" {
		opt.Password = password
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = t, t, t
	opt.MaxRetries, opt.MinRetryBackoff, opt.MaxRetryBackoff = 1, 10*time.Millisecond, 100*time.Millisecond
	return redis.NewClient(opt), nil
}
