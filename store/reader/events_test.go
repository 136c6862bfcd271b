package reader

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store/event"
)

// TestReader_sharedHub: a Reader given a process's hub opens no
// subscription of its own, and token events through the hub reload it.
func TestReader_sharedHub(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := newStore(t, rdb)
	hub, err := event.NewHub(event.HubConfig{Subscribe: s.Subscribe, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hub.Run(ctx) }()
	defer func() { cancel(); <-done }()

	putToken(t, s, rdb, "app")
	r1 := newReader(t, rdb, Config{Events: hub})
	r2 := newReader(t, rdb, Config{Events: hub})
	subscribed(t, r1)
	subscribed(t, r2)
	if n := len(mr.PubSubChannels("")); n != 1 {
		t.Fatalf("%d channels subscribed", n)
	}
	if n := mr.PubSubNumSub(s.Keys().Events())[s.Keys().Events()]; n != 1 {
		t.Fatalf("%d subscriptions to the events channel for two Readers on one hub, want 1", n)
	}
	for _, r := range []*Reader{r1, r2} {
		mustToken(t, r, "app")
	}
	v := putToken(t, s, rdb, "app")
	for _, r := range []*Reader{r1, r2} {
		waitFor(t, 5*time.Second, "the new version", func() bool {
			tok, err := r.Token(context.Background(), "app")
			return err == nil && tok.Version == v
		})
	}
}
