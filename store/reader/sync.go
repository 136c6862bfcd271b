package reader

import (
	"context"
	"errors"
	"time"

	"github.com/tokend/tokend/store/event"
)

// listen handles the events channel's notices until ctx ends or the
// subscription is closed: a token event reloads that app (when cached);
// every subscribe confirmation (the first one, and the one after a
// reconnect) resyncs all cached apps, since events may have been missed
// meanwhile.
func (r *Reader) listen(ctx context.Context) {
	for {
		var n event.Notice
		select {
		case <-ctx.Done():
			return
		case m, ok := <-r.events.C():
			if !ok {
				return
			}
			n = m
		}
		switch n.Kind {
		case event.KindSubscribed:
			r.resync(ctx)
		case event.KindLost:
			r.logSubscribeFailure(n.Again, n.Err)
		case event.KindMalformed:
			r.malformedEvent(n.Err)
		case event.KindEvent:
			r.onEvent(ctx, n.Event)
		}
	}
}

// logSubscribeFailure says once, and truly, that the subscription failed:
// a first failure is not a loss, and cached tokens are mentioned only when
// some are cached.
func (r *Reader) logSubscribeFailure(subscribed bool, err error) {
	switch {
	case !subscribed:
		r.log.Warn("cannot subscribe to token events; retrying", "channel", r.store.Keys().Events(), "err", err)
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

func (r *Reader) malformedEvent(err error) {
	r.malformed.Add(1)
	if emit, n := r.badEvents.note(r.now()); emit {
		r.log.Warn("ignoring malformed events on the channel", "count", n, "per", logEvery.String(), "err", err)
	}
}

func (r *Reader) onEvent(ctx context.Context, ev event.Event) {
	if ev.Type != event.Token {
		return
	}
	if e := (*r.apps.Load())[ev.App]; e != nil {
		r.reload(ctx, e)
	}
}

// maintain re-reads tokens close to expiry and resyncs periodically.
func (r *Reader) maintain(ctx context.Context) {
	scan := time.NewTicker(min(max(r.cfg.RefreshBefore/8, minScanPeriod), maxScanPeriod))
	defer scan.Stop()
	resync := time.NewTicker(r.cfg.ResyncInterval)
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
