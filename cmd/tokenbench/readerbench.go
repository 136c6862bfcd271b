package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/reader"
)

// leaderWriter writes tokens through the store API the way a leader does:
// the lease key is set by hand, then TakeTicket and WriteToken.
type leaderWriter struct {
	st    *store.Store
	app   string
	lease string
	n     int
}

func newLeaderWriter(ctx context.Context, b *bench, st *store.Store, app string) (*leaderWriter, error) {
	w := &leaderWriter{st: st, app: app, lease: "tokenbench-" + randomHex(8)}
	if err := b.RDB.Set(ctx, st.Keys().Lease(), w.lease, 10*time.Minute).Err(); err != nil {
		return nil, err
	}
	return w, nil
}

// write stores a new token valid for an hour and returns its version.
func (w *leaderWriter) write(ctx context.Context) (int64, error) {
	tk, err := w.st.TakeTicket(ctx, w.app, w.lease, 0)
	if err != nil {
		return 0, err
	}
	w.n++
	res, err := w.st.WriteToken(ctx, store.Write{
		App: w.app, Ticket: tk, Token: fmt.Sprintf("bench-%d-%s", w.n, randomHex(8)),
		ExpiresIn: time.Hour, SafetyMargin: time.Minute, Epoch: 1, Leader: "tokenbench",
	})
	return res.Version, err
}

// setBenchtime sets testing.Benchmark's run time (the -test.benchtime flag).
func setBenchtime(d time.Duration) {
	testing.Init() // registers the test.* flags once; a no-op in a test binary
	if f := flag.CommandLine.Lookup("test.benchtime"); f != nil {
		_ = f.Value.Set(d.String())
	}
}

var sink reader.Token

// readerFigures: Reader hit vs a GET per read, and propagation of writes.
func (b *bench) readerFigures(ctx context.Context) error {
	st, err := store.New(store.Config{Client: b.RDB, Prefix: b.Prefix + "-rd"})
	if err != nil {
		return err
	}
	const app = "bench"
	w, err := newLeaderWriter(ctx, b, st, app)
	if err != nil {
		return err
	}
	if _, err := w.write(ctx); err != nil {
		return err
	}
	// The Reader gets its own client, as in a business process.
	rrdb, err := fleet.NewRedisClient(b.RedisURL, 8)
	if err != nil {
		return err
	}
	defer rrdb.Close()
	r, err := reader.New(rrdb, reader.Config{Prefix: b.Prefix + "-rd"})
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := r.Token(ctx, app); err != nil {
		return fmt.Errorf("first read: %w", err)
	}
	setBenchtime(b.opts.benchtime)
	hit := testing.Benchmark(func(tb *testing.B) {
		tb.ReportAllocs()
		for range tb.N {
			sink, _ = r.Token(ctx, app)
		}
	})
	key := st.Keys().Token(app)
	get := testing.Benchmark(func(tb *testing.B) {
		tb.ReportAllocs()
		for range tb.N {
			if err := rrdb.Get(ctx, key).Err(); err != nil {
				tb.Fatal(err)
			}
		}
	})
	if hit.N == 0 || get.N == 0 {
		return errors.New("micro-benchmark did not run")
	}
	hitNs := float64(hit.T.Nanoseconds()) / float64(hit.N)
	getNs := float64(get.T.Nanoseconds()) / float64(get.N)
	ratio := getNs / hitNs
	b.add(row{
		figure: "Reader hit: Token from memory", tokend: fmt.Sprintf("%.1f ns/op, %d allocs/op", hitNs, hit.AllocsPerOp()),
		compare: fmt.Sprintf("redis GET per read: %s/op, %d allocs/op", fmtDur(time.Duration(getNs)), get.AllocsPerOp()),
		goal:    "<= 25 ns, 0 allocs", status: goalStatus(hitNs <= 25 && hit.AllocsPerOp() == 0),
	})
	b.add(row{figure: "Reader hit vs GET per read", tokend: fmt.Sprintf("%s x faster", fmtInt(int64(ratio))),
		goal: ">= 2,000 x", status: goalStatus(ratio >= 2000)})
	return b.propagation(ctx, w, r, app)
}

// propagation times updates writes until Reader.Token returns each new
// version, from just before WriteToken is sent. The waiting side must not
// burn a core while the Reader works (on 2 cores a spinning poller delays
// the Reader's goroutines and redis-server and inflates the tail by
// milliseconds; a runtime.Gosched loop even keeps the scheduler from
// polling the network), and time.Sleep cannot pause below about 1 ms in an
// idle process. So it blocks on its own subscription to the events channel
// until the write's event arrives, then checks Token after each PING round
// trip on its own connection (about 30-50 µs, waiting in the network poller
// like the Reader's reload does) for the short rest.
func (b *bench) propagation(ctx context.Context, w *leaderWriter, r *reader.Reader, app string) error {
	sub := b.RDB.Subscribe(ctx, w.st.Keys().Events())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	lat := make(durations, 0, b.opts.updates)
	lost := 0
	for range b.opts.updates {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		start := time.Now()
		v, err := w.write(ctx)
		if err != nil {
			return err
		}
		if err := waitEvent(ctx, sub, v); err != nil {
			return err
		}
		for {
			tok, err := r.Token(ctx, app)
			if err == nil && tok.Version >= v {
				lat = append(lat, time.Since(start))
				break
			}
			if time.Since(start) > 2*time.Second {
				lost++
				break
			}
			if err := b.RDB.Ping(ctx).Err(); err != nil {
				return err
			}
		}
	}
	st := statusOK
	if p99 := lat.pct(99); p99 > 2*time.Millisecond || lost > 0 {
		st = statusMissed
	}
	msg := fmt.Sprintf("p50 %s, p99 %s, max %s", fmtDur(lat.pct(50)), fmtDur(lat.pct(99)), fmtDur(lat.max()))
	if lost > 0 {
		msg += fmt.Sprintf(", %d not seen within 2 s", lost)
	}
	b.add(row{figure: fmt.Sprintf("propagation, WriteToken -> Reader.Token (%s updates)", fmtInt(int64(b.opts.updates))),
		tokend: msg, compare: "store API as a leader writes", goal: "p99 <= 2 ms", status: st})
	return nil
}

// waitEvent waits, at most 2 s, for the token event of version v.
func waitEvent(ctx context.Context, sub *redis.PubSub, v int64) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for {
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil {
			return fmt.Errorf("waiting for the event of version %d: %w", v, err)
		}
		if ev, err := event.Parse(msg.Payload); err == nil && ev.Type == event.Token && ev.Version >= v {
			return nil
		}
	}
}
