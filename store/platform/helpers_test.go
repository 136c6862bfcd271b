package platform

import (
	"context"
	"sync"
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

// corruptLog collects what a Store hands to Config.OnCorrupt.
type corruptLog struct {
	mu   sync.Mutex
	list []store.CorruptError
}

func (l *corruptLog) note(c *store.CorruptError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, *c)
}

func (l *corruptLog) take() []store.CorruptError {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.list
	l.list = nil
	return out
}

func (l *corruptLog) has(key, field string, repaired bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.list {
		if c.Key == key && c.Field == field && c.Repaired == repaired {
			return true
		}
	}
	return false
}

// forEachCorrupt runs f on miniredis and on a redis-server, with a Store
// whose OnCorrupt feeds log.
func forEachCorrupt(t *testing.T, f func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog)) {
	for _, name := range []string{"miniredis", "redis-server"} {
		t.Run(name, func(t *testing.T) {
			var rdb *redis.Client
			if name == "miniredis" {
				mr := miniredis.RunT(t)
				rdb = redis.NewClient(&redis.Options{Addr: mr.Addr()})
				t.Cleanup(func() { rdb.Close() })
			} else {
				rdb = redisserver.Start(t).Client()
			}
			log := &corruptLog{}
			st, err := store.New(store.Config{Client: rdb, Prefix: "tokend", OnCorrupt: log.note})
			if err != nil {
				t.Fatal(err)
			}
			f(t, New(st), rdb, log)
		})
	}
}

// forEach is forEachCorrupt without the log.
func forEach(t *testing.T, f func(t *testing.T, s *Store, rdb *redis.Client)) {
	forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, _ *corruptLog) { f(t, s, rdb) })
}

func holdLease(t *testing.T, s *Store, rdb *redis.Client) {
	t.Helper()
	if err := rdb.Set(context.Background(), s.Keys().Lease(), lease, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
}
