package lock

import (
	"context"
	"encoding/json"

	"github.com/redis/go-redis/v9"
)

// Event types the elector publishes on Config.Channel. The wire format is
// the events contract of the README's "Redis contract" section: a JSON
// object with a "type"; readers ignore types they do not know.
const (
	// EventReleased: {"type":"released"}, a leader let go of the lease.
	EventReleased = "released"
	// EventAcquired: {"type":"acquired","epoch":N,"leader":"<replica id>"},
	// a replica obtained the lease and starts term N. Sent before it starts
	// leading, so that a replica that still believes it leads checks its
	// lease at once.
	EventAcquired = "acquired"
)

// ReleasedMessage is published on Config.Channel when a leader lets go.
const ReleasedMessage = `{"type":"` + EventReleased + `"}`

// event is one message on the channel, as far as lock reads it. It is input:
// unknown types, bad JSON and missing fields are ignored.
type event struct {
	Type   string `json:"type"`
	Epoch  int64  `json:"epoch,omitempty"`
	Leader string `json:"leader,omitempty"`
}

func parseEvent(payload string) (event, bool) {
	var ev event
	if json.Unmarshal([]byte(payload), &ev) != nil || ev.Type == "" {
		return event{}, false
	}
	return ev, true
}

func acquiredMessage(t Term) string {
	b, _ := json.Marshal(event{Type: EventAcquired, Epoch: t.Epoch, Leader: t.ID})
	return string(b)
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
func react(ev event, mine Term, leading bool) reaction {
	switch ev.Type {
	case EventReleased:
		return reaction{wake: true}
	case EventAcquired:
		if leading && ev.Leader == mine.ID && ev.Epoch == mine.Epoch {
			return reaction{}
		}
		return reaction{verify: leading, reread: !leading}
	}
	return reaction{}
}

// listen subscribes to the channel and acts on each event. A subscription
// confirmed again after the first one means the connection was lost and
// re-established, a sign that Redis restarted or failed over: the leader
// verifies its lease at once. The returned func stops it and waits for its
// goroutine.
func (e *Elector) listen(ctx context.Context) func() {
	if e.cfg.Channel == "" {
		return func() {}
	}
	sub := e.cfg.Client.Subscribe(ctx, e.cfg.Channel)
	done := make(chan struct{})
	go func() {
		defer close(done)
		subscribed := false
		for msg := range sub.ChannelWithSubscriptions() {
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" && subscribed {
					e.requestVerify()
				}
				subscribed = subscribed || m.Kind == "subscribe"
			case *redis.Message:
				ev, ok := parseEvent(m.Payload)
				if !ok {
					continue
				}
				term, leading := e.Leading()
				e.apply(react(ev, term, leading))
			}
		}
	}()
	return func() {
		_ = sub.Close()
		<-done
	}
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
