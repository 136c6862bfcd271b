// Package redisserver starts real redis-server processes on free loopback
// ports for tests. It never touches a Redis it did not start.
//
// When the redis-server binary is missing, Start skips the test with a clear
// message, unless the CI environment variable is set: then it fails, so a CI
// run can never pass without the real-Redis tests.
package redisserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process. Its methods are not safe for
// concurrent use.
type Server struct {
	Proc // Addr is 127.0.0.1:Port

	tb    testing.TB
	bin   string
	extra []string
}

// Binary returns the path of name (redis-server, redis-cli), or "" and
// skips/fails tb as described in the package comment.
func Binary(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("redisserver: %s not found on PATH and CI is set: install it (apt-get install -y redis-server redis-tools)", name)
	}
	tb.Skipf("redisserver: SKIPPING, %s not found on PATH (install redis-server to run this test)", name)
	return ""
}

// Start starts a redis-server on a free loopback port with no persistence,
// plus extra arguments (e.g. "--appendonly", "yes"), and stops it when the
// test ends.
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: Binary(tb, "redis-server"), Proc: Proc{Dir: tb.TempDir()}, extra: extra}
	var err error
	for range 5 {
		if s.Port, err = FreePort(); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			tb.Cleanup(s.Stop)
			return s
		}
	}
	tb.Fatalf("redisserver: start: %v", err)
	return nil
}

// FreePort returns a currently free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Args are the redis-server arguments of a throwaway server on 127.0.0.1
// port, without persistence, working in dir. Start uses them;
// cmd/tokenbench starts its own redis-server with them.
func Args(port int, dir string) []string {
	return []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
	}
}

func (s *Server) start() error {
	s.Addr = "127.0.0.1:" + strconv.Itoa(s.Port)
	args := append(Args(s.Port, s.Dir), "--logfile", filepath.Join(s.Dir, "redis.log"))
	args = append(args, s.extra...)
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exit = make(chan struct{})
	go func(c *exec.Cmd, exit chan struct{}) { _ = c.Wait(); close(exit) }(s.cmd, s.exit)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exit:
			return fmt.Errorf("redis-server exited at start: %s", s.LogTail())
		default:
		}
		if s.ping() == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("redis-server did not answer within 5s: %s", s.LogTail())
}

func (s *Server) ping() error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	return c.Ping(ctx).Err()
}

// Restart kills the server and starts an empty one on the same port, as a
// Redis that lost its data in a crash would come back.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	var err error
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.tb.Fatalf("redisserver: restart: %v", err)
}

// Client returns a go-redis client for the server with short timeouts,
// closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: s.Addr, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
	})
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}
