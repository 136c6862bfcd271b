package lock

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store/event"
)

// Events is what the elector needs of a shared subscription to
// Config.Channel; *event.Hub satisfies it.
type Events interface {
	Subscribe() *event.Subscription
}

// releasedMessage is published on Config.Channel when a leader lets go.
var releasedMessage = event.Encode(event.Event{Type: event.Released})

// acquiredMessage announces term t: epoch and replica id, never the lease
// value.
func acquiredMessage(t Term) string {
	return event.Encode(event.Event{Type: event.Acquired, Epoch: t.Epoch, Leader: t.ID})
}

// reaction is what the elector does about one message on its channel.
type reaction struct {
	wake   bool // a standby tries to obtain now
	verify bool // a leader renews now to learn whether it still holds the lease
	reread bool // a standby reads who leads at its next try (for its log)
}

// react decides what an event means for an elector whose current term is
// mine (leading tells whether it leads). An acquisition by anyone but this
// very term means the lease may have changed hands behind our back (Redis
// restarted empty, failed over, evicted or expired the key): the leader
// checks at once instead of at its next renewal. The event alone never
// deposes anyone: only Redis saying the lease is not ours does.
func react(ev event.Event, mine Term, leading bool) reaction {
	switch ev.Type {
	case event.Released:
		return reaction{wake: true}
	case event.Acquired:
		if leading && ev.Leader == mine.ID && ev.Epoch == mine.Epoch {
			return reaction{}
		}
		return reaction{verify: leading, reread: !leading}
	}
	return reaction{}
}

// listen follows the channel's events (through Config.Events, or a
// subscription of its own) and acts on each. A subscription confirmed again
// after the first one means the connection was lost and re-established, a
// sign that Redis restarted or failed over: the leader verifies its lease
// at once. The returned func stops it and waits for its goroutines.
func (e *Elector) listen(ctx context.Context) func() {
	src, stopHub := e.cfg.Events, func() {}
	if src == nil {
		if e.cfg.Channel == "" {
			return func() {}
		}
		var err error
		if src, stopHub, err = e.ownHub(ctx); err != nil {
			e.cfg.Logger.Error("lock: cannot listen for announcements", "err", err)
			return func() {}
		}
	}
	sub := src.Subscribe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := range sub.C() {
			switch n.Kind {
			case event.KindSubscribed:
				if n.Again {
					e.requestVerify()
				}
			case event.KindEvent:
				term, leading := e.Leading()
				e.apply(react(n.Event, term, leading))
			}
		}
	}()
	return func() {
		sub.Close()
		<-done
		stopHub()
	}
}

// ownHub runs a hub on Config.Channel until the returned func is called.
func (e *Elector) ownHub(ctx context.Context) (Events, func(), error) {
	hub, err := event.NewHub(event.HubConfig{
		Subscribe: func(ctx context.Context) *redis.PubSub { return e.cfg.Client.Subscribe(ctx, e.cfg.Channel) },
		Logger:    e.cfg.Logger,
	})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hub.Run(ctx)
	}()
	return hub, func() {
		cancel()
		<-done
	}, nil
}

func (e *Elector) apply(r reaction) {
	if r.wake {
		e.Wake()
	}
	if r.verify {
		e.requestVerify()
	}
	if r.reread {
		e.reread.Store(true)
	}
}

// requestVerify makes a leader renew now (a no-op for a standby: its next
// obtain tells it anyway).
func (e *Elector) requestVerify() {
	select {
	case e.verify <- struct{}{}:
	default:
	}
}
