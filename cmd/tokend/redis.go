package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
			Username: rc.Username, Password: password, DialTimeout: t, ReadTimeout: t, WriteTimeout: t, MaxRetries: 1,
			MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
		}), nil
	case rc.Cluster != nil:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: rc.Cluster.Addrs, Username: rc.Username, Password: password, DialTimeout: t, ReadTimeout: t, WriteTimeout: t,
			MaxRetries: 1, MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
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
	return redis.NewClient(opt), nil
}

// redisLogger sends go-redis's own log lines (pool and sentinel events)
// through slog, so json logs stay json. Its messages carry addresses, never
// passwords.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...interface{}) {
	l.log.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
