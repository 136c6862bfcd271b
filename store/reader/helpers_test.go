package reader

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const lease = "lease-value-a"

// newStore is the leader's side of the tests: it writes what the Reader reads.
func newStore(t testing.TB, rdb store.Client) *store.Store {
	t.Helper()
	s, err := store.New(store.Config{Client: rdb, Prefix: "tokend"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forEach runs f on miniredis and on a real redis-server.
func forEach(t *testing.T, f func(t *testing.T, s *store.Store, rdb *redis.Client)) {
	for name, open := range map[string]func(t *testing.T) *redis.Client{
		"miniredis": func(t *testing.T) *redis.Client {
			rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
			t.Cleanup(func() { rdb.Close() })
			return rdb
		},
		"redis-server": func(t *testing.T) *redis.Client { return redisserver.Start(t).Client() },
	} {
		t.Run(name, func(t *testing.T) {
			rdb := open(t)
			f(t, newStore(t, rdb), rdb)
		})
	}
}

func holdLease(t testing.TB, s *store.Store, rdb *redis.Client) {
	t.Helper()
	if err := rdb.Set(context.Background(), s.Keys().Lease(), lease, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
}

// write writes token for app under tk like a leader and returns its version.
func write(t testing.TB, s *store.Store, app, token string, tk store.Ticket, expiresIn time.Duration) (int64, error) {
	t.Helper()
	res, err := s.WriteToken(context.Background(), store.Write{App: app, Ticket: tk, Token: token, ExpiresIn: expiresIn, SafetyMargin: time.Minute})
	return res.Version, err
}
