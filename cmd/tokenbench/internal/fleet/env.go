// Package fleet runs what tokenbench measures: a redis-server and tokend
// replicas as child processes (through integration/harness.Proc, so every
// child is killed when the bench exits), with generated configurations,
// plus probes of their Redis traffic, memory and CPU. Everything stays on
// loopback.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
)

// Env is what every Deployment of one run shares. Set the fields before the
// first NewDeployment; do not change them afterwards.
type Env struct {
	Procs    *harness.Procs // every child process; KillAll on exit
	Dir      string         // work directory: configs and logs
	Bin      string         // the tokend binary
	RedisURL string
	RDB      *redis.Client
	Prefix   string // per run, so that runs sharing a Redis never collide
	Secret   string // of every app at the fake upstream
	APIToken string // of every replica's HTTP API
	HTTP     *http.Client
}

// StartRedis starts a redis-server without persistence on a free loopback
// port and waits until it answers. It returns the redis:// URL.
func StartRedis(ctx context.Context, ps *harness.Procs, dir string) (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.New("redis-server not found on PATH (install redis-server, or pass -redis URL)")
	}
	for range 5 {
		port, err := redisserver.FreePort()
		if err != nil {
			return "", err
		}
		cmd := exec.Command(bin, redisserver.Args(port, dir)...)
		c, err := ps.Start("redis-server", cmd, filepath.Join(dir, "redis.log"))
		if err != nil {
			return "", err
		}
		u := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
		if waitRedis(ctx, u, c, 5*time.Second) == nil {
			return u, nil
		}
		c.Stop(syscall.SIGKILL, time.Second)
	}
	return "", fmt.Errorf("redis-server did not start; see %s", filepath.Join(dir, "redis.log"))
}

func waitRedis(ctx context.Context, u string, p *harness.Proc, timeout time.Duration) error {
	rdb, err := NewRedisClient(u, 4)
	if err != nil {
		return err
	}
	defer rdb.Close()
	var up bool
	wait.Poll(timeout, func() bool {
		if ctx.Err() != nil || p.Exited() {
			return true // give up
		}
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		up = rdb.Ping(pctx).Err() == nil
		return up
	})
	if !up {
		return errors.New("redis-server did not answer")
	}
	return nil
}

// NewRedisClient returns a client for u with short timeouts.
func NewRedisClient(u string, pool int) (*redis.Client, error) {
	opt, err := redis.ParseURL(u)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, 2*time.Second, 2*time.Second
	opt.PoolSize = pool
	return redis.NewClient(opt), nil
}

// CheckLoopback refuses a -redis URL that does not point at loopback: the
// bench never sends traffic off the machine.
func CheckLoopback(u string) error {
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme != "redis" {
		return fmt.Errorf("-redis: want redis://127.0.0.1:port/db, got %q", u)
	}
	host := pu.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-redis: %s is not a loopback address; tokenbench only talks to loopback", host)
}

// BuildTokend builds the tokend command into dir, as the integration
// tests do (harness.Build), and returns the binary's path.
func BuildTokend(ctx context.Context, dir string) (string, error) {
	bin, err := harness.Build(ctx, dir)
	if err != nil {
		return "", fmt.Errorf("%w (run tokenbench from the tokend repository)", err)
	}
	return bin, nil
}

// DeleteRunKeys removes this run's keys from a Redis the bench did not
// start (bounded: at most 10 s).
func DeleteRunKeys(rdb *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, "{"+prefix+"-*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			_ = rdb.Unlink(ctx, batch...).Err()
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		_ = rdb.Unlink(ctx, batch...).Err()
	}
}

// Every calls f every d until ctx ends.
func Every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}
