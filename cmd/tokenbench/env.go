package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
)

// procs tracks every child process the bench started, so that all of them
// are killed on exit, on error and on a signal. Safe for concurrent use.
type procs struct {
	mu   sync.Mutex // guards live
	live map[int]*child
}

// child is one started process; done is closed when it has exited.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	logf *os.File
}

func newProcs() *procs { return &procs{live: map[int]*child{}} }

// start starts cmd with its output appended to logPath. The child gets
// SIGKILL if the bench dies without cleaning up (Pdeathsig).
func (p *procs) start(name string, cmd *exec.Cmd, logPath string) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{}), logf: logf}
	p.mu.Lock()
	p.live[cmd.Process.Pid] = c
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		logf.Close()
		p.mu.Lock()
		delete(p.live, cmd.Process.Pid)
		p.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the child has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace for the exit, then kills.
func (c *child) stop(sig syscall.Signal, grace time.Duration) {
	if c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// killAll kills every live child by its pid and waits for them.
func (p *procs) killAll() {
	p.mu.Lock()
	all := make([]*child, 0, len(p.live))
	for _, c := range p.live {
		all = append(all, c)
	}
	p.mu.Unlock()
	for _, c := range all {
		_ = c.cmd.Process.Kill()
	}
	for _, c := range all {
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
		}
	}
}

// startRedis starts a redis-server without persistence on a free loopback
// port and waits until it answers. It returns the redis:// URL.
func startRedis(ctx context.Context, ps *procs, dir string) (string, error) {
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
		c, err := ps.start("redis-server", cmd, filepath.Join(dir, "redis.log"))
		if err != nil {
			return "", err
		}
		u := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
		if waitRedis(ctx, u, c, 5*time.Second) == nil {
			return u, nil
		}
		c.stop(syscall.SIGKILL, time.Second)
	}
	return "", fmt.Errorf("redis-server did not start; see %s", filepath.Join(dir, "redis.log"))
}

func waitRedis(ctx context.Context, u string, c *child, timeout time.Duration) error {
	rdb, err := newRedisClient(u, 4)
	if err != nil {
		return err
	}
	defer rdb.Close()
	var up bool
	wait.Poll(timeout, func() bool {
		if ctx.Err() != nil || c.exited() {
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

// newRedisClient returns a client for u with short timeouts.
func newRedisClient(u string, pool int) (*redis.Client, error) {
	opt, err := redis.ParseURL(u)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, 2*time.Second, 2*time.Second
	opt.PoolSize = pool
	return redis.NewClient(opt), nil
}

// checkLoopback refuses a -redis URL that does not point at loopback: the
// bench never sends traffic off the machine.
func checkLoopback(u string) error {
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

// buildTokend builds the tokend command into dir, as the integration
// tests do (harness.Build), and returns the binary's path.
func buildTokend(ctx context.Context, dir string) (string, error) {
	bin, err := harness.Build(ctx, dir)
	if err != nil {
		return "", fmt.Errorf("%w (run tokenbench from the tokend repository)", err)
	}
	return bin, nil
}

// machine describes where the bench ran.
type machine struct {
	CPU, GoVersion, Redis, OS, Date string
	Load                            string // load averages at the start
	Cores                           int
}

func describeMachine(ctx context.Context, rdb *redis.Client) machine {
	m := machine{
		CPU: "unknown CPU", Cores: runtime.NumCPU(), GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, Date: time.Now().Format("2006-01-02 15:04 MST"),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	m.Redis = "redis " + infoField(ctx, rdb, "server", "redis_version")
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	return m
}

// infoField returns one field of INFO section, "" when unavailable.
func infoField(ctx context.Context, rdb *redis.Client, section, field string) string {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// commandsProcessed is Redis's total_commands_processed.
func commandsProcessed(ctx context.Context, rdb *redis.Client) int64 {
	n, _ := strconv.ParseInt(infoField(ctx, rdb, "stats", "total_commands_processed"), 10, 64)
	return n
}

// procStat reads VmRSS (bytes) and utime+stime (clock ticks) of pid.
func procStat(pid int) (rss int64, ticks int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces: count fields after ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return rss, ut + st, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100
