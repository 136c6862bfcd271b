package lock

import (
	"context"
	"fmt"
	"time"
)

// Every Redis call of the elector runs on its own goroutine, so that no
// client setting can hold up a step-down: go-redis honours a context
// deadline on the socket only with Options.ContextTimeoutEnabled, and
// otherwise waits for its own ReadTimeout. The caller waits for the answer,
// for its run context and for a timer on the injected clock, whichever comes
// first. A call it stopped waiting for is abandoned, not stopped: it keeps
// its goroutine (and a pooled connection) until the client gives up, and
// Run waits for all of them before it returns.

// errNoAnswer: the call got no answer in time; it may still take effect.
type errNoAnswer struct{ after time.Duration }

func (e errNoAnswer) Error() string {
	return fmt.Sprintf("lock: no answer from redis within %s", e.after)
}

type result[T any] struct {
	v   T
	err error
}

// start runs op with a context bounded by timeout (for clients that honour
// it) and returns the channel its one result is sent on (buffered, so an
// abandoned op never blocks).
func start[T any](e *Elector, ctx context.Context, timeout time.Duration, op func(context.Context) (T, error)) <-chan result[T] {
	res := make(chan result[T], 1)
	e.ops.Add(1)
	go func() {
		defer e.ops.Done()
		octx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		v, err := op(octx)
		res <- result[T]{v, err}
	}()
	return res
}

// bounded runs op and waits at most timeout on the injected clock, or until
// ctx ends, for its result.
func bounded[T any](e *Elector, ctx context.Context, timeout time.Duration, op func(context.Context) (T, error)) (T, error) {
	res := start(e, ctx, timeout, op)
	t := e.cfg.Clock.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-res:
		return r.v, r.err
	case <-t.C():
		var zero T
		return zero, errNoAnswer{timeout}
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
