// Package naive is the baseline tokenbench compares tokend with: every
// replica fetches for itself, sharing only a Redis cache, with an
// in-process lock. It promises nothing about fetches across replicas; that
// is what the bench shows.
package naive

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/tokend/tokend/refresher/upstream"
)

// Replica is the common SDK pattern: read the shared cache; on a miss
// take an in-process lock, read again, fetch and SET with a TTL of
// expires_in - 1500 s (scaled: 5700/7200 of the lifetime). Safe for
// concurrent use.
type Replica struct {
	rdb  *redis.Client
	key  string
	prov upstream.Provider
	mu   sync.Mutex // the in-process lock: serialises this replica's fetches only
}

// New returns a Replica that caches prov's token in rdb under key.
func New(rdb *redis.Client, key string, prov upstream.Provider) *Replica {
	return &Replica{rdb: rdb, key: key, prov: prov}
}

// Token returns the cached token, fetching and caching one on a miss.
func (n *Replica) Token(ctx context.Context) (string, error) {
	if v, err := n.rdb.Get(ctx, n.key).Result(); err == nil || !errors.Is(err, redis.Nil) {
		return v, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if v, err := n.rdb.Get(ctx, n.key).Result(); err == nil || !errors.Is(err, redis.Nil) {
		return v, err
	}
	tok, err := n.prov.Fetch(ctx, upstream.FetchRequest{})
	if err != nil {
		return "", err
	}
	ttl := tok.ExpiresIn * 5700 / 7200
	return tok.Value, n.rdb.Set(ctx, n.key, tok.Value, ttl).Err()
}
