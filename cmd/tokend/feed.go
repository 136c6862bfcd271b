package main

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store"
)

// changeFeed turns token events into per-app broadcasts: watch returns a
// channel that is closed at the app's next token write. Safe for concurrent
// use.
type changeFeed struct {
	mu    sync.Mutex // guards chans
	chans map[string]chan struct{}
}

func newChangeFeed() *changeFeed { return &changeFeed{chans: map[string]chan struct{}{}} }

func (f *changeFeed) watch(app string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch, ok := f.chans[app]
	if !ok {
		ch = make(chan struct{})
		f.chans[app] = ch
	}
	return ch
}

func (f *changeFeed) notify(app string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.chans[app]; ok {
		close(ch)
		delete(f.chans, app)
	}
}

// run feeds token events from the store's subscription until ctx ends.
func (f *changeFeed) run(ctx context.Context, subscribe func(context.Context) *redis.PubSub) {
	sub := subscribe(ctx)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			if ev, err := store.ParseEvent(msg.Payload); err == nil && ev.Type == store.EventToken {
				f.notify(ev.App)
			}
		}
	}
}
