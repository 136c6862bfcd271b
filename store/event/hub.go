package event

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPingInterval is HubConfig.PingInterval's default.
const DefaultPingInterval = 5 * time.Second

// maxBackoff bounds the pause between failed subscription attempts.
const maxBackoff = 2 * time.Second

// Kind says what a Notice is.
type Kind int

const (
	// KindEvent: a message parsed into Notice.Event.
	KindEvent Kind = iota + 1
	// KindMalformed: a message that did not parse; Notice.Err says why.
	KindMalformed
	// KindSubscribed: the subscription is live. Sent when Redis confirms
	// it, and at once to a Subscription made while it is live. Again is
	// true when the hub had been subscribed before and lost it (Redis
	// restarted, failed over, or the connection died): events may have
	// been missed meanwhile.
	KindSubscribed
	// KindLost: the subscription failed (Notice.Err), said once per streak
	// of failures; the hub keeps retrying. Again is true when it had been
	// subscribed before.
	KindLost
)

// Notice is what a Subscription delivers.
type Notice struct {
	Kind  Kind
	Event Event // KindEvent
	Err   error // KindMalformed, KindLost
	Again bool  // KindSubscribed, KindLost
}

// HubConfig configures a Hub.
type HubConfig struct {
	// Subscribe opens a subscription to the events channel, e.g.
	// store.Store.Subscribe. Required. go-redis dials lazily: a failure
	// shows at the first receive, and the hub retries it.
	Subscribe func(ctx context.Context) *redis.PubSub
	// PingInterval: the subscription is pinged after this long without a
	// message; if the next interval brings nothing either, the connection
	// is presumed dead and replaced. Default DefaultPingInterval (5s).
	PingInterval time.Duration
	// Logger receives the subscription's silences and restorations.
	// Default slog.Default().
	Logger *slog.Logger
}

// Hub is one process's subscription to the events channel, fanned out:
// Run owns the redis PubSub (reconnects, pings a silent connection,
// backs off), and every Subscription gets each parsed message in order,
// plus KindSubscribed after each (re)subscription. A slow subscriber never
// blocks the hub or the others: its notices queue.
//
// A Hub is safe for concurrent use; Subscribe may be called before Run.
type Hub struct {
	cfg HubConfig
	log *slog.Logger

	// mu guards subs, live, ever and running.
	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	live    bool // the subscription is confirmed and has not failed since
	ever    bool // a subscription was ever confirmed
	running bool // Run was called

	// subMu guards sub, the current PubSub (nil once Run is ending).
	subMu sync.Mutex
	sub   *redis.PubSub
}

// NewHub validates cfg and returns a Hub. It does no I/O: Run subscribes.
func NewHub(cfg HubConfig) (*Hub, error) {
	switch {
	case cfg.Subscribe == nil:
		return nil, errors.New("event: HubConfig.Subscribe is required")
	case cfg.PingInterval < 0:
		return nil, errors.New("event: HubConfig.PingInterval must not be negative")
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	h := &Hub{cfg: cfg, log: cfg.Logger, subs: map[*Subscription]struct{}{}}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// Run subscribes and delivers until ctx ends, then closes the
// subscription and returns nil. It runs once per Hub.
func (h *Hub) Run(ctx context.Context) error {
	h.mu.Lock()
	if h.running {
		h.mu.Unlock()
		return errors.New("event: Hub.Run called twice")
	}
	h.running = true
	h.mu.Unlock()
	// A receive does not watch ctx: closing the PubSub unblocks it.
	stop := context.AfterFunc(ctx, func() { h.replace(ctx, nil) })
	defer stop()
	defer h.replace(ctx, nil)
	h.loop(ctx)
	h.mu.Lock()
	h.live = false // a Subscription made from now on hears nothing
	h.mu.Unlock()
	return nil
}

func (h *Hub) loop(ctx context.Context) {
	sub := h.replace(ctx, h.cfg.Subscribe)
	var (
		failures int
		pinged   bool // a ping is unanswered
	)
	for sub != nil {
		msg, err := sub.ReceiveTimeout(ctx, h.cfg.PingInterval)
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
				h.log.Warn("subscription silent, reconnecting")
			} else if !sleepCtx(ctx, backoff(failures-1)) {
				return
			}
			sub, pinged = h.replace(ctx, h.cfg.Subscribe), false
			continue
		default:
			// go-redis has already redialled once; pause before the next.
			if failures++; failures == 1 {
				h.lost(err)
			} else if !sleepCtx(ctx, backoff(failures-1)) {
				return
			}
			continue
		}
		pinged = false
		if failures > 0 {
			if h.wasSubscribed() {
				h.log.Info("subscription restored", "failed_attempts", failures)
			} else {
				h.log.Info("subscribed", "failed_attempts", failures)
			}
			failures = 0
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				h.subscribed()
			}
		case *redis.Message:
			n := Notice{Kind: KindEvent}
			if n.Event, n.Err = Parse(m.Payload); n.Err != nil {
				n.Kind = KindMalformed
			}
			h.fanOut(n)
		}
	}
}

// replace closes the current PubSub and, with open set and ctx live, opens
// the next one; it returns nil once Run is ending.
func (h *Hub) replace(ctx context.Context, open func(context.Context) *redis.PubSub) *redis.PubSub {
	h.subMu.Lock()
	defer h.subMu.Unlock()
	if h.sub != nil {
		_ = h.sub.Close()
		h.sub = nil
	}
	if open == nil || ctx.Err() != nil {
		return nil
	}
	h.sub = open(ctx)
	return h.sub
}

func (h *Hub) wasSubscribed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ever
}

func (h *Hub) subscribed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := Notice{Kind: KindSubscribed, Again: h.ever}
	h.live, h.ever = true, true
	for s := range h.subs {
		s.push(n)
	}
}

func (h *Hub) lost(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live = false
	n := Notice{Kind: KindLost, Err: err, Again: h.ever}
	for s := range h.subs {
		s.push(n)
	}
}

func (h *Hub) fanOut(n Notice) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.push(n)
	}
}

// Subscribe returns a new Subscription to the hub's notices; Close it when
// done. Made while the subscription is live, it starts with KindSubscribed
// (Again false).
func (h *Hub) Subscribe() *Subscription {
	s := &Subscription{
		hub: h, c: make(chan Notice), wake: make(chan struct{}, 1),
		done: make(chan struct{}), stopped: make(chan struct{}),
	}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	if h.live {
		s.push(Notice{Kind: KindSubscribed})
	}
	h.mu.Unlock()
	go s.pump()
	return s
}

// Subscription is one subscriber's queue of notices. It is safe for
// concurrent use.
type Subscription struct {
	hub  *Hub
	c    chan Notice
	wake chan struct{} // a notice was queued

	// mu guards queue, the notices not yet handed to c.
	mu    sync.Mutex
	queue []Notice

	once    sync.Once
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when pump has returned
}

// C delivers the notices in order. It is closed after Close.
func (s *Subscription) C() <-chan Notice { return s.c }

// Close unsubscribes, drops the queued notices and waits for the
// delivering goroutine; C is closed. Calling it again does nothing.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.hub.mu.Lock()
		delete(s.hub.subs, s)
		s.hub.mu.Unlock()
		close(s.done)
	})
	<-s.stopped
}

func (s *Subscription) push(n Notice) {
	s.mu.Lock()
	s.queue = append(s.queue, n)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pump hands queued notices to c until Close.
func (s *Subscription) pump() {
	defer close(s.stopped)
	defer close(s.c)
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, n := range q {
			select {
			case s.c <- n:
			case <-s.done:
				return
			}
		}
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
