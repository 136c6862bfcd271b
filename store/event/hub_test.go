package event

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const channel = "{t}:events"

// startHub runs a hub on a fresh miniredis until the test ends.
func startHub(t *testing.T) (*Hub, *miniredis.Miniredis, *redis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	h, err := NewHub(HubConfig{Subscribe: func(ctx context.Context) *redis.PubSub { return rdb.Subscribe(ctx, channel) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
		_ = rdb.Close()
	})
	return h, mr, rdb
}

// next waits for s's next notice.
func next(t *testing.T, s *Subscription) Notice {
	t.Helper()
	select {
	case n, ok := <-s.C():
		if !ok {
			t.Fatal("subscription closed")
		}
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no notice within 10s")
	}
	return Notice{}
}

func publish(t *testing.T, rdb *redis.Client, msg string) {
	t.Helper()
	if err := rdb.Publish(context.Background(), channel, msg).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestNewHub_validates(t *testing.T) {
	if _, err := NewHub(HubConfig{}); err == nil {
		t.Error("no Subscribe accepted")
	}
	sub := func(context.Context) *redis.PubSub { return nil }
	if _, err := NewHub(HubConfig{Subscribe: sub, PingInterval: -1}); err == nil {
		t.Error("negative PingInterval accepted")
	}
}

// TestHub_fanOut: every subscription gets the confirmation, then each
// message in order, parsed; a malformed one is said as such.
func TestHub_fanOut(t *testing.T) {
	h, _, rdb := startHub(t)
	a, b := h.Subscribe(), h.Subscribe()
	defer a.Close()
	defer b.Close()
	for _, s := range []*Subscription{a, b} {
		if n := next(t, s); n.Kind != KindSubscribed || n.Again {
			t.Fatalf("first notice %+v, want KindSubscribed, not again", n)
		}
	}
	publish(t, rdb, Encode(Event{Type: Token, App: "x", Version: 1}))
	publish(t, rdb, "not json")
	publish(t, rdb, Encode(Event{Type: Released}))
	for _, s := range []*Subscription{a, b} {
		if n := next(t, s); n.Kind != KindEvent || n.Event != (Event{Type: Token, App: "x", Version: 1}) {
			t.Fatalf("notice %+v, want the token event", n)
		}
		if n := next(t, s); n.Kind != KindMalformed || n.Err == nil {
			t.Fatalf("notice %+v, want KindMalformed", n)
		}
		if n := next(t, s); n.Kind != KindEvent || n.Event.Type != Released {
			t.Fatalf("notice %+v, want released", n)
		}
	}
	// A subscription made while the hub is live starts with KindSubscribed.
	late := h.Subscribe()
	defer late.Close()
	if n := next(t, late); n.Kind != KindSubscribed || n.Again {
		t.Fatalf("late subscription's first notice %+v", n)
	}
}

// TestHub_slowSubscriberBlocksNoOne: a subscription nobody reads queues;
// the others get every message.
func TestHub_slowSubscriberBlocksNoOne(t *testing.T) {
	h, _, rdb := startHub(t)
	slow, fast := h.Subscribe(), h.Subscribe()
	defer fast.Close()
	next(t, fast)
	for i := 1; i <= 200; i++ {
		publish(t, rdb, Encode(Event{Type: Token, App: "x", Version: int64(i)}))
	}
	for i := 1; i <= 200; i++ {
		if n := next(t, fast); n.Event.Version != int64(i) {
			t.Fatalf("notice %d: %+v", i, n)
		}
	}
	slow.Close()
	slow.Close() // again: a no-op
	if _, ok := <-slow.C(); ok {
		t.Fatal("C still open after Close")
	}
}

// TestHub_reconnect: Redis restarts; subscribers hear of the loss, then
// of the new subscription with Again set, and get events again.
func TestHub_reconnect(t *testing.T) {
	h, mr, rdb := startHub(t)
	s := h.Subscribe()
	defer s.Close()
	next(t, s)
	mr.Close()
	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for {
		n := next(t, s)
		kinds = append(kinds, fmt.Sprintf("%d/%v", n.Kind, n.Again))
		if n.Kind == KindSubscribed {
			if !n.Again {
				t.Fatalf("resubscription not marked again: %v", kinds)
			}
			break
		}
		if n.Kind != KindLost || !n.Again || n.Err == nil {
			t.Fatalf("notice %+v before the resubscription, want KindLost", n)
		}
	}
	publish(t, rdb, Encode(Event{Type: Report, App: "x"}))
	if n := next(t, s); n.Kind != KindEvent || n.Event.Type != Report {
		t.Fatalf("after the reconnect: %+v", n)
	}
}

func TestHub_Run_once(t *testing.T) {
	h, _, _ := startHub(t)
	waitLive(t, h)
	if err := h.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
}

func waitLive(t *testing.T, h *Hub) {
	t.Helper()
	s := h.Subscribe()
	defer s.Close()
	next(t, s)
}
