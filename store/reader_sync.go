package store

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// listen owns the subscription to the events channel until ctx ends: a
// token event reloads that app (when cached); every subscribe confirmation
// (the first one, and the one go-redis's silent reconnect produces)
// resyncs all cached apps, since events may have been missed meanwhile.
func (r *Reader) listen(ctx context.Context) {
	sub := r.subscribe(ctx, nil)
	var (
		failures   int
		pinged     bool // a ping is unanswered
		subscribed bool // a subscription was ever confirmed
	)
	for sub != nil {
		msg, err := sub.ReceiveTimeout(ctx, r.opts.PingInterval)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
		case isTimeout(err) && !pinged:
			pinged = true
			if err := sub.Ping(ctx); err == nil {
				continue
			}
			fallthrough // the ping could not be sent: replace below
		case isTimeout(err):
			if failures++; failures == 1 {
				r.log.Warn("subscription silent, reconnecting", "channel", r.store.keys.Events())
			} else if !sleepCtx(ctx, backoff(failures-1)) {
				return
			}
			sub, pinged = r.subscribe(ctx, sub), false
			continue
		default:
			// go-redis has already redialled once; pause before the next.
			if failures++; failures == 1 {
				r.logSubscribeFailure(subscribed, err)
			} else if !sleepCtx(ctx, backoff(failures-1)) {
				return
			}
			continue
		}
		pinged = false
		if failures > 0 {
			if subscribed {
				r.log.Info("subscription restored", "failed_attempts", failures)
			} else {
				r.log.Info("subscribed", "failed_attempts", failures)
			}
			failures = 0
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				subscribed = true
				r.resync(ctx)
			}
		case *redis.Message:
			r.onEvent(ctx, m.Payload)
		}
	}
}

// subscribe replaces old (nil at first) with a new subscription and makes
// it the one Close closes. It returns nil once the Reader is closing.
func (r *Reader) subscribe(ctx context.Context, old *redis.PubSub) *redis.PubSub {
	if old != nil {
		_ = old.Close()
	}
	// Subscribe dials under ctx; a failure is retried by Receive.
	sub := r.store.Subscribe(ctx)
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if ctx.Err() != nil {
		_ = sub.Close()
		return nil
	}
	r.sub = sub
	return sub
}

// logSubscribeFailure says once, and truly, that the subscription failed:
// a first failure is not a loss, and cached tokens are mentioned only when
// some are cached.
func (r *Reader) logSubscribeFailure(subscribed bool, err error) {
	switch {
	case !subscribed:
		r.log.Warn("cannot subscribe to token events; retrying", "channel", r.store.keys.Events(), "err", err)
	case r.cachedValid() > 0:
		r.log.Warn("subscription lost; serving cached tokens until they expire", "cached", r.cachedValid(), "err", err)
	default:
		r.log.Warn("subscription lost; retrying (no token cached)", "err", err)
	}
}

// cachedValid counts the apps with a valid cached token.
func (r *Reader) cachedValid() int {
	n, now := 0, r.now()
	for _, e := range *r.apps.Load() {
		if e.cur.Load().valid(now) {
			n++
		}
	}
	return n
}

func (r *Reader) onEvent(ctx context.Context, payload string) {
	ev, err := ParseEvent(payload)
	if err != nil {
		r.malformed.Add(1)
		if emit, n := r.badEvents.note(r.now()); emit {
			r.log.Warn("ignoring malformed events on the channel", "count", n, "per", logEvery.String(), "err", err)
		}
		return
	}
	if ev.Type != EventToken {
		return
	}
	if e := (*r.apps.Load())[ev.App]; e != nil {
		r.reload(ctx, e)
	}
}

// maintain re-reads tokens close to expiry and resyncs periodically.
func (r *Reader) maintain(ctx context.Context) {
	scan := time.NewTicker(min(max(r.opts.RefreshBefore/8, minScanPeriod), maxScanPeriod))
	defer scan.Stop()
	resync := time.NewTicker(r.opts.ResyncInterval)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-scan.C:
			now := r.now()
			for _, e := range *r.apps.Load() {
				if c := e.cur.Load(); c.tok.Value != "" && now >= c.refreshAt {
					r.reload(ctx, e)
				}
			}
		case <-resync.C:
			r.resync(ctx)
		}
	}
}

// resync re-reads every cached app.
func (r *Reader) resync(ctx context.Context) {
	for _, e := range *r.apps.Load() {
		if ctx.Err() != nil {
			return
		}
		r.reload(ctx, e)
	}
	r.resyncs.Add(1)
}

// reload is a background load: failures keep the cached token.
func (r *Reader) reload(ctx context.Context, e *entry) {
	if err := r.load(ctx, e); err != nil && !errors.Is(err, ErrNoToken) && ctx.Err() == nil {
		r.log.Warn("reload failed; serving the cached token until it expires", "app", e.app, "err", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// backoff is the pause after the n-th consecutive failure: 50ms doubling
// up to maxBackoff.
func backoff(n int) time.Duration {
	d := 50 * time.Millisecond << min(n-1, 6)
	return min(d, maxBackoff)
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
