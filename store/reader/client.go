package reader

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// errNotUsed is the error of the store.Client methods a Reader never
// calls (storeClient).
var errNotUsed = errors.New("reader: redis command not used by the reader")

// storeClient gives a Client the rest of store.Client's methods, so that
// a Reader reads through a store.Store. The Store calls the Reader makes
// (Record, Report, PendingReport, Subscribe) use only Client's methods;
// the others answer errNotUsed without a Redis call.
type storeClient struct{ Client }

func (storeClient) HSet(ctx context.Context, _ string, _ ...any) *redis.IntCmd {
	cmd := redis.NewIntCmd(ctx)
	cmd.SetErr(errNotUsed)
	return cmd
}

func (storeClient) HGet(ctx context.Context, _, _ string) *redis.StringCmd {
	cmd := redis.NewStringCmd(ctx)
	cmd.SetErr(errNotUsed)
	return cmd
}

func (storeClient) HGetAll(ctx context.Context, _ string) *redis.MapStringStringCmd {
	cmd := redis.NewMapStringStringCmd(ctx)
	cmd.SetErr(errNotUsed)
	return cmd
}

func (storeClient) Exists(ctx context.Context, _ ...string) *redis.IntCmd {
	cmd := redis.NewIntCmd(ctx)
	cmd.SetErr(errNotUsed)
	return cmd
}

func (storeClient) Publish(ctx context.Context, _ string, _ any) *redis.IntCmd {
	cmd := redis.NewIntCmd(ctx)
	cmd.SetErr(errNotUsed)
	return cmd
}

func (storeClient) Ping(ctx context.Context) *redis.StatusCmd {
	cmd := redis.NewStatusCmd(ctx)
	cmd.SetErr(errNotUsed)
	return cmd
}
