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
// RetryInterval, jittered, or at once on a release announcement), announces
// the acquisition, runs lead under a context cancelled when leadership ends,
// renews, steps down on a lost lease or a missed RenewDeadline, and
// campaigns again. When ctx ends while leading it cancels lead, waits for
// it, releases the lease with a fresh short context and announces the
// release. It returns nil after a cancelled ctx, once every Redis call it
// started has returned (see op.go: with a client that ignores context
// deadlines, a call on a stalled connection lasts the client's own timeout).
func (e *Elector) Run(ctx context.Context, lead LeadFunc) error {
	if lead == nil {
		return errors.New("lock: Run needs a LeadFunc")
	}
	defer e.ops.Wait()
	stopSub := e.listen(ctx)
	defer stopSub()
	var c campaign
	for {
		drain(e.verify) // a term obtained from now on is newer than any request so far
		// The lease's TTL starts somewhere inside obtain: counting the renew
		// deadline from before the call errs on the safe side.
		started := e.cfg.Clock.Now()
		lk, term, err := e.obtain(ctx)
		if ctx.Err() == nil {
			o := outcomeFailed
			switch {
			case lk != nil:
				o = outcomeObtained
			case err == nil:
				o = outcomeHeld
			}
			var l campaignLog
			c, l = c.next(o, e.cfg.Clock.Now(), o == outcomeHeld && e.reread.Swap(false))
			e.logCampaign(ctx, l, err)
		}
		if lk != nil {
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

func drain(c <-chan struct{}) {
	select {
	case <-c:
	default:
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

// obtain tries once, within OpTimeout on the injected clock. It returns
// (nil, Term{}, nil) when someone else holds the lease.
func (e *Elector) obtain(ctx context.Context) (*redislock.Lock, Term, error) {
	begun := e.cfg.Clock.Now()
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
	lk, err := bounded(e, ctx, e.cfg.OpTimeout, func(octx context.Context) (*redislock.Lock, error) {
		// A fresh NoRetry strategy per call: redislock strategies are stateful.
		return e.locker.Obtain(octx, e.cfg.Key, e.cfg.LeaseTTL, &redislock.Options{
			RetryStrategy: redislock.NoRetry(),
			Token:         token,
			Metadata:      ":" + e.cfg.ID,
		})
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
	var epoch int64
	err = errNoAnswer{e.cfg.OpTimeout}
	if left := e.cfg.OpTimeout - e.cfg.Clock.Since(begun); left > 0 {
		epoch, err = bounded(e, ctx, left, func(octx context.Context) (int64, error) {
			return epochScript.Run(octx, e.cfg.Client, []string{e.cfg.Key, e.cfg.EpochKey}, value, e.cfg.ID).Int64()
		})
	}
	if err == nil && epoch < 0 {
		err = errors.New("lease lost before the term was recorded")
	}
	if err != nil {
		e.release(lk, false)
		return nil, Term{}, fmt.Errorf("lock: record term: %w", err)
	}
	return lk, Term{Value: value, Epoch: epoch, ID: e.cfg.ID}, nil
}

// lead announces the term, runs the leader's work and renews until
// leadership ends. Leading() turns false before the work is cancelled.
func (e *Elector) lead(ctx context.Context, lk *redislock.Lock, term Term, obtained time.Time, work LeadFunc) {
	log := e.cfg.Logger.With("term", term)
	// Before leading: a replica that still believes it leads (Redis
	// restarted empty, failed over, lost the key) checks its lease now.
	e.publish(ctx, acquiredMessage(term))
	if e.cfg.Clock.Since(obtained) >= e.cfg.RenewDeadline {
		log.Warn("lock: obtained the lease too late to lead", "reason", reasonDeadline)
		e.release(lk, true)
		return
	}
	lastRenew := obtained
	// Not a child of ctx: a shutdown, like any step-down, cancels the work
	// only after Leading() turned false.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	e.setLeading(term, true)
	log.Info("lock: leading")
	go func() {
		defer close(done)
		work(wctx, term)
	}()

	reason := e.renewLoop(ctx, lk, done, &lastRenew)
	e.setLeading(Term{}, false)
	cancel()
	<-done
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

// renewal is one renewal call in flight.
type renewal struct {
	res   <-chan result[struct{}]
	begun time.Time
}

// renewLoop renews every RenewInterval, and at once when asked to verify
// the lease, with at most one renewal in flight. The deadline timer does
// not wait for a renewal: a call stuck on a stalled connection cannot hold
// up the step-down.
func (e *Elector) renewLoop(ctx context.Context, lk *redislock.Lock, done <-chan struct{}, lastRenew *time.Time) string {
	renew := e.cfg.Clock.NewTimer(e.cfg.RenewInterval)
	defer renew.Stop()
	var inflight *renewal
	verifyPending := false
	for {
		left := lastRenew.Add(e.cfg.RenewDeadline).Sub(e.cfg.Clock.Now())
		if left <= 0 {
			return reasonDeadline
		}
		deadline := e.cfg.Clock.NewTimer(left)
		var renewC <-chan time.Time
		var res <-chan result[struct{}]
		if inflight == nil {
			renewC = renew.C()
		} else {
			res = inflight.res
		}
		select {
		case <-ctx.Done():
			deadline.Stop()
			return reasonShutdown
		case <-done:
			deadline.Stop()
			return reasonWorkDone
		case <-deadline.C():
			return reasonDeadline
		case <-e.verify:
			verifyPending = inflight != nil
			if inflight == nil {
				inflight = e.startRenewal(ctx, lk, left)
			}
		case <-renewC:
			inflight = e.startRenewal(ctx, lk, left)
		case r := <-res:
			begun := inflight.begun
			inflight = nil
			switch {
			case r.err == nil:
				*lastRenew = begun
				renew.Reset(e.cfg.RenewInterval)
			case errors.Is(r.err, redislock.ErrNotObtained):
				deadline.Stop()
				return reasonLost
			default:
				e.cfg.Logger.Warn("lock: renew failed", "err", r.err)
				// Retry sooner than a full interval, still bounded by the deadline.
				renew.Reset(e.cfg.RenewInterval / 4)
			}
			if verifyPending {
				verifyPending = false
				inflight = e.startRenewal(ctx, lk, lastRenew.Add(e.cfg.RenewDeadline).Sub(e.cfg.Clock.Now()))
			}
		}
		deadline.Stop()
	}
}

func (e *Elector) startRenewal(ctx context.Context, lk *redislock.Lock, left time.Duration) *renewal {
	begun := e.cfg.Clock.Now()
	res := start(e, ctx, max(min(e.cfg.OpTimeout, left), time.Nanosecond), func(rctx context.Context) (struct{}, error) {
		return struct{}{}, lk.Refresh(rctx, e.cfg.LeaseTTL, nil)
	})
	return &renewal{res: res, begun: begun}
}

// release lets go of the lease with a fresh short context (the run context
// may be cancelled already) and, if asked and it was still ours, announces
// it so standbys try at once. A release that got no answer may not have
// happened: the next obtain reuses the token, so that a lease still ours is
// re-entered instead of waited out.
func (e *Elector) release(lk *redislock.Lock, announce bool) {
	_, err := bounded(e, context.Background(), e.cfg.OpTimeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, lk.Release(ctx)
	})
	if err != nil {
		if !errors.Is(err, redislock.ErrLockNotHeld) {
			e.retryToken = lk.Token()
			e.cfg.Logger.Warn("lock: release failed", "err", err)
		}
		return
	}
	if announce {
		e.publish(context.Background(), releasedMessage)
	}
}

// publish announces msg on the channel, if any, within OpTimeout.
func (e *Elector) publish(ctx context.Context, msg string) {
	if e.cfg.Channel == "" {
		return
	}
	_, err := bounded(e, ctx, e.cfg.OpTimeout, func(ctx context.Context) (int64, error) {
		return e.cfg.Client.Publish(ctx, e.cfg.Channel, msg).Result()
	})
	if err != nil {
		e.cfg.Logger.Warn("lock: announce failed", "err", err)
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
