package lock

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bsm/redislock"
	"github.com/redis/go-redis/v9"
)

// epochScript: KEYS lease, epoch hash; ARGV lease value, id. Sets the term
// to max(stored + 1, Redis TIME ms) while the lease is still ours.
var epochScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local e = tonumber(redis.call('HGET', KEYS[2], 'epoch') or '0') + 1
if now > e then e = now end
redis.call('HSET', KEYS[2], 'epoch', string.format('%d', e), 'leader', ARGV[2])
return e
`)

// LeadFunc is the leader's work. It runs while the lease is held and must
// return promptly once ctx is cancelled: the lease is released only after
// it returned.
type LeadFunc func(ctx context.Context, t Term)

// Run campaigns until ctx is cancelled: it obtains the lease (every
// RetryInterval, jittered, or at once on a release announcement), runs lead
// under a context cancelled when leadership ends, renews, steps down on a
// lost lease or a missed RenewDeadline, and campaigns again. When ctx ends
// while leading it cancels lead, waits for it, releases the lease with a
// fresh short context and announces the release. It returns nil after a
// cancelled ctx.
func (e *Elector) Run(ctx context.Context, lead LeadFunc) error {
	if lead == nil {
		return errors.New("lock: Run needs a LeadFunc")
	}
	stopSub := e.listen(ctx)
	defer stopSub()
	for {
		// The lease's TTL starts somewhere inside obtain: counting the renew
		// deadline from before the call errs on the safe side.
		started := e.cfg.Clock.Now()
		lk, term, err := e.obtain(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			e.cfg.Logger.Warn("lock: obtain failed", "err", err)
		case lk != nil:
			e.lead(ctx, lk, term, started, lead)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := e.waitRetry(ctx); err != nil {
			return nil
		}
	}
}

func (e *Elector) waitRetry(ctx context.Context) error {
	d := time.Duration(float64(e.cfg.RetryInterval) * (0.8 + 0.4*rand.Float64()))
	t := e.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
	case <-e.wake:
	}
	return nil
}

// obtain tries once. It returns (nil, Term{}, nil) when someone else holds
// the lease.
func (e *Elector) obtain(ctx context.Context) (*redislock.Lock, Term, error) {
	octx, cancel := context.WithTimeout(ctx, e.cfg.OpTimeout)
	defer cancel()
	// After a failed call (timeout, lost reply) the SET may have happened:
	// the next try reuses the token, and redislock's obtain script re-enters
	// a lease whose value starts with it, instead of leaving an orphan lease
	// nobody holds until it expires.
	token := e.retryToken
	if token == "" {
		var err error
		if token, err = newToken(); err != nil {
			return nil, Term{}, fmt.Errorf("lock: obtain: %w", err)
		}
	}
	// A fresh NoRetry strategy per call: redislock strategies are stateful.
	lk, err := e.locker.Obtain(octx, e.cfg.Key, e.cfg.LeaseTTL, &redislock.Options{
		RetryStrategy: redislock.NoRetry(),
		Token:         token,
		Metadata:      ":" + e.cfg.ID,
	})
	e.retryToken = ""
	if errors.Is(err, redislock.ErrNotObtained) {
		return nil, Term{}, nil
	}
	if err != nil {
		e.retryToken = token
		return nil, Term{}, fmt.Errorf("lock: obtain: %w", err)
	}
	value := lk.Token() + lk.Metadata()
	epoch, err := epochScript.Run(octx, e.cfg.Client, []string{e.cfg.Key, e.cfg.EpochKey}, value, e.cfg.ID).Int64()
	if err == nil && epoch < 0 {
		err = errors.New("lease lost before the term was recorded")
	}
	if err != nil {
		e.release(lk, false)
		return nil, Term{}, fmt.Errorf("lock: record term: %w", err)
	}
	return lk, Term{Value: value, Epoch: epoch, ID: e.cfg.ID}, nil
}

// lead runs the leader's work and renews until leadership ends.
func (e *Elector) lead(ctx context.Context, lk *redislock.Lock, term Term, obtained time.Time, work LeadFunc) {
	log := e.cfg.Logger.With("term", term)
	lastRenew := obtained
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	e.setLeading(term, true)
	log.Info("lock: leading")
	go func() {
		defer close(done)
		work(wctx, term)
	}()

	reason := e.renewLoop(ctx, lk, done, &lastRenew)
	cancel()
	<-done
	e.setLeading(Term{}, false)
	log.Info("lock: stepped down", "reason", reason)
	if reason != reasonLost {
		e.release(lk, true)
	}
}

const (
	reasonShutdown = "shutdown"
	reasonWorkDone = "work returned"
	reasonLost     = "lease lost"
	reasonDeadline = "renew deadline passed"
)

func (e *Elector) renewLoop(ctx context.Context, lk *redislock.Lock, done <-chan struct{}, lastRenew *time.Time) string {
	renew := e.cfg.Clock.NewTimer(e.cfg.RenewInterval)
	defer renew.Stop()
	for {
		left := lastRenew.Add(e.cfg.RenewDeadline).Sub(e.cfg.Clock.Now())
		if left <= 0 {
			return reasonDeadline
		}
		deadline := e.cfg.Clock.NewTimer(left)
		select {
		case <-ctx.Done():
			deadline.Stop()
			return reasonShutdown
		case <-done:
			deadline.Stop()
			return reasonWorkDone
		case <-deadline.C():
			return reasonDeadline
		case <-renew.C():
			deadline.Stop()
			start := e.cfg.Clock.Now()
			left = lastRenew.Add(e.cfg.RenewDeadline).Sub(start) // time passed while waiting
			if left <= 0 {
				return reasonDeadline
			}
			err := e.renew(ctx, lk, min(e.cfg.OpTimeout, left))
			switch {
			case err == nil:
				*lastRenew = start
				renew.Reset(e.cfg.RenewInterval)
			case errors.Is(err, redislock.ErrNotObtained):
				return reasonLost
			default:
				e.cfg.Logger.Warn("lock: renew failed", "err", err)
				// Retry sooner than a full interval, still bounded by the deadline.
				renew.Reset(e.cfg.RenewInterval / 4)
			}
		}
	}
}

func (e *Elector) renew(ctx context.Context, lk *redislock.Lock, timeout time.Duration) error {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return lk.Refresh(rctx, e.cfg.LeaseTTL, nil)
}

// release lets go of the lease with a fresh short context (the run context
// may be cancelled already) and, if asked and it was still ours, announces
// it so standbys try at once.
func (e *Elector) release(lk *redislock.Lock, announce bool) {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.OpTimeout)
	defer cancel()
	if err := lk.Release(ctx); err != nil {
		if !errors.Is(err, redislock.ErrLockNotHeld) {
			e.cfg.Logger.Warn("lock: release failed", "err", err)
		}
		return
	}
	if announce && e.cfg.Channel != "" {
		if err := e.cfg.Client.Publish(ctx, e.cfg.Channel, ReleasedMessage).Err(); err != nil {
			e.cfg.Logger.Warn("lock: announce release failed", "err", err)
		}
	}
}

// listen subscribes to release announcements and wakes the campaign on each.
// The returned func stops it and waits for its goroutine.
func (e *Elector) listen(ctx context.Context) func() {
	if e.cfg.Channel == "" {
		return func() {}
	}
	sub := e.cfg.Client.Subscribe(ctx, e.cfg.Channel)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range sub.Channel() {
			if isReleased(msg.Payload) {
				e.Wake()
			}
		}
	}()
	return func() {
		_ = sub.Close()
		<-done
	}
}

// newToken is a random lease token, like redislock's own: 16 random bytes,
// base64url.
func newToken() (string, error) {
	b := make([]byte, 16)
	if _, err := crand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
