package redisserver

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ACLServer is a redis-server running with an ACL file, whose users tests
// log in as.
type ACLServer struct {
	*Proc
	tb testing.TB
}

// StartACL starts a redis-server with the ACL file at path (relative to
// the test's package directory, e.g. "../deploy/redis-users.acl"). It is
// stopped when the test ends.
func StartACL(tb testing.TB, path string) *ACLServer {
	tb.Helper()
	abs, err := filepath.Abs(path)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		tb.Fatalf("redisserver: ACL file: %v", err)
	}
	return &ACLServer{Proc: StartConf(tb, "aclfile "+abs), tb: tb}
}

// User returns a client logged in as name with password pw, closed when
// the test ends.
func (s *ACLServer) User(name, pw string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Username: name, Password: pw,
		DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	s.tb.Cleanup(func() { _ = c.Close() })
	return c
}
