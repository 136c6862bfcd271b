package platform

import (
	"context"
	"maps"
	"strconv"
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

// corruptLog collects what a Store hands to Config.OnCorrupt, by key,
// field and whether it was repaired.
type corruptLog struct {
	mu   sync.Mutex
	seen map[[3]string]int
}

func (l *corruptLog) note(c *store.CorruptError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[[3]string]int{}
	}
	l.seen[[3]string{c.Key, c.Field, strconv.FormatBool(c.Repaired)}]++
}

func (l *corruptLog) has(key, field string, repaired bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[[3]string{key, field, strconv.FormatBool(repaired)}] > 0
}

// take is what was seen, for messages.
func (l *corruptLog) take() map[[3]string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.seen)
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
