package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultWaitTimeout is the WAIT timeout used when Config.MinReplicasAck is
// set and Config.WaitTimeout is zero. It must stay below the client's read
// timeout: the pipeline's reply is read under that timeout.
const DefaultWaitTimeout = 250 * time.Millisecond

// replicaAck is the replication acknowledgement asked for after each
// ticket and token write; n == 0 disables it.
type replicaAck struct {
	n       int
	timeout time.Duration
}

// newReplicaAck validates Config.MinReplicasAck and Config.WaitTimeout.
func newReplicaAck(cfg Config) (replicaAck, error) {
	switch {
	case cfg.MinReplicasAck < 0:
		return replicaAck{}, fieldErr("MinReplicasAck", "must not be negative (0: off)")
	case cfg.WaitTimeout < 0:
		return replicaAck{}, fieldErr("WaitTimeout", "must not be negative")
	case cfg.ClientTimeout < 0:
		return replicaAck{}, fieldErr("ClientTimeout", "must not be negative")
	case cfg.MinReplicasAck > 0 && cfg.WaitTimeout > 0 && cfg.WaitTimeout < time.Millisecond:
		// WAIT counts whole milliseconds, and WAIT n 0 blocks forever.
		return replicaAck{}, fieldErr("WaitTimeout", "must be at least 1ms")
	}
	a := replicaAck{n: cfg.MinReplicasAck, timeout: cfg.WaitTimeout}
	if a.n > 0 && a.timeout == 0 {
		a.timeout = DefaultWaitTimeout
	}
	if a.n > 0 && cfg.ClientTimeout > 0 && a.timeout >= cfg.ClientTimeout {
		return replicaAck{}, fieldErr("WaitTimeout", "must be less than ClientTimeout (%s)", cfg.ClientTimeout)
	}
	return a, nil
}

// pipeliner is a client that can pipeline on one connection
// (*redis.Client, and the *redis.Client of a Sentinel failover client).
type pipeliner interface {
	Pipeline() redis.Pipeliner
}

// runScript runs script like script.Run, and when replication
// acknowledgement is on, sends `WAIT n timeout` right after it in one
// pipeline on the same connection, so that WAIT counts the replicas that
// received this very write. On Redis Cluster the pipeline goes to the
// master of the hash tag's slot (every key of a deployment is in it). It
// returns the script's own result and whether at least n replicas
// acknowledged within the timeout (true when acknowledgement is off; false
// also when WAIT itself failed: the script ran on the master either way).
func (s *Store) runScript(ctx context.Context, script *redis.Script, keys []string, args ...any) (*redis.Cmd, bool, error) {
	if s.ack.n == 0 {
		cmd := script.Run(ctx, s.rdb, keys, args...)
		return cmd, true, cmd.Err()
	}
	p, err := s.pipelinerFor(ctx, keys[0])
	if err != nil {
		return nil, false, err
	}
	cmd, acked, err := s.evalAndWait(ctx, p, script.EvalSha, keys, args)
	if err != nil && isNoScript(err) {
		// The script cache is empty (restart, failover): EVAL loads it.
		// NOSCRIPT means nothing ran, so running again is safe.
		cmd, acked, err = s.evalAndWait(ctx, p, script.Eval, keys, args)
	}
	if err != nil {
		return cmd, false, err
	}
	return cmd, acked >= s.ack.n, nil
}

type evalFunc func(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd

// evalAndWait runs eval and WAIT in one pipeline. It returns the script's
// error, or the number of replicas WAIT counted (0 when WAIT failed).
func (s *Store) evalAndWait(ctx context.Context, p pipeliner, eval evalFunc, keys []string, args []any) (*redis.Cmd, int, error) {
	pipe := p.Pipeline()
	cmd := eval(ctx, pipe, keys, args...)
	wait := redis.NewIntCmd(ctx, "wait", s.ack.n, s.ack.timeout.Milliseconds())
	_ = pipe.Process(ctx, wait)
	_, _ = pipe.Exec(ctx) // errors are read per command below
	if err := cmd.Err(); err != nil {
		return cmd, 0, err
	}
	n, err := wait.Result()
	if err != nil {
		return cmd, 0, nil
	}
	return cmd, int(n), nil
}

// pipelinerFor returns a client whose pipelines run on one connection to
// the master holding key.
func (s *Store) pipelinerFor(ctx context.Context, key string) (pipeliner, error) {
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		c, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("store: find the master of %s: %w", key, err)
		}
		return c, nil
	}
	if p, ok := s.rdb.(pipeliner); ok {
		return p, nil
	}
	return nil, errors.New("store: MinReplicasAck needs a client with Pipeline (redis.UniversalClient)")
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}
