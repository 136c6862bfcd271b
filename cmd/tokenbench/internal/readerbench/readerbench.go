// Package readerbench measures store/reader for tokenbench: a Reader's
// cache hit against a Redis GET per read (testing.Benchmark), and how fast
// a token written through the store API reaches a Reader. It writes under
// its own key prefix and sets the lease key by hand, as a leader would hold
// it; it starts no tokend.
package readerbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/reader"
)

// app is the one app the benchmarks read and write.
const app = "bench"

// Bench is one set-up measurement: a writer on the bench's client and a
// Reader on its own client, as in a business process. Not safe for
// concurrent use.
type Bench struct {
	rdb    *redis.Client // the writer's
	rrdb   *redis.Client // the Reader's
	r      *reader.Reader
	w      *leaderWriter
	cancel context.CancelFunc
}

// New writes a first token under prefix with rdb, and opens a Reader on
// rrdb, which Bench closes. It returns once the Reader has read the token.
func New(ctx context.Context, rdb, rrdb *redis.Client, prefix string) (*Bench, error) {
	st, err := store.New(store.Config{Client: rdb, Prefix: prefix})
	if err != nil {
		rrdb.Close()
		return nil, err
	}
	b := &Bench{rdb: rdb, rrdb: rrdb}
	if b.w, err = newLeaderWriter(ctx, rdb, st); err != nil {
		rrdb.Close()
		return nil, err
	}
	if _, err := b.w.write(ctx); err != nil {
		rrdb.Close()
		return nil, err
	}
	if b.r, err = reader.New(rrdb, reader.Config{Prefix: prefix}); err != nil {
		rrdb.Close()
		return nil, err
	}
	if _, err := b.r.Token(ctx, app); err != nil {
		b.Close()
		return nil, fmt.Errorf("first read: %w", err)
	}
	return b, nil
}

// Close closes the Reader and its client.
func (b *Bench) Close() {
	b.r.Close()
	_ = b.rrdb.Close()
}

// leaderWriter writes tokens through the store API the way a leader does:
// the lease key is set by hand, then TakeTicket and WriteToken.
type leaderWriter struct {
	st    *store.Store
	lease string
	n     int
}

func newLeaderWriter(ctx context.Context, rdb *redis.Client, st *store.Store) (*leaderWriter, error) {
	w := &leaderWriter{st: st, lease: "tokenbench-" + randomHex(8)}
	if err := rdb.Set(ctx, st.Keys().Lease(), w.lease, 10*time.Minute).Err(); err != nil {
		return nil, err
	}
	return w, nil
}

// write stores a new token valid for an hour and returns its version.
func (w *leaderWriter) write(ctx context.Context) (int64, error) {
	tk, err := w.st.TakeTicket(ctx, app, w.lease, 0)
	if err != nil {
		return 0, err
	}
	w.n++
	res, err := w.st.WriteToken(ctx, store.Write{
		App: app, Ticket: tk, Token: fmt.Sprintf("bench-%d-%s", w.n, randomHex(8)),
		ExpiresIn: time.Hour, SafetyMargin: time.Minute, Epoch: 1, Leader: "tokenbench",
	})
	return res.Version, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setBenchtime sets testing.Benchmark's run time (the -test.benchtime flag).
func setBenchtime(d time.Duration) {
	testing.Init() // registers the test.* flags once; a no-op in a test binary
	if f := flag.CommandLine.Lookup("test.benchtime"); f != nil {
		_ = f.Value.Set(d.String())
	}
}

var sink reader.Token

// Micro runs the two micro-benchmarks for benchtime each: Reader.Token
// from memory, and a Redis GET of the token key on the Reader's client.
func (b *Bench) Micro(ctx context.Context, benchtime time.Duration) (hit, get testing.BenchmarkResult, err error) {
	setBenchtime(benchtime)
	hit = testing.Benchmark(func(tb *testing.B) {
		tb.ReportAllocs()
		for range tb.N {
			sink, _ = b.r.Token(ctx, app)
		}
	})
	key := b.w.st.Keys().Token(app)
	get = testing.Benchmark(func(tb *testing.B) {
		tb.ReportAllocs()
		for range tb.N {
			if err := b.rrdb.Get(ctx, key).Err(); err != nil {
				tb.Fatal(err)
			}
		}
	})
	if hit.N == 0 || get.N == 0 {
		return hit, get, errors.New("micro-benchmark did not run")
	}
	return hit, get, nil
}

// Propagation times updates writes until Reader.Token returns each new
// version, from just before WriteToken is sent; lost counts the versions
// not seen within 2 s. The waiting side must not burn a core while the
// Reader works (on 2 cores a spinning poller delays the Reader's goroutines
// and redis-server and inflates the tail by milliseconds; a runtime.Gosched
// loop even keeps the scheduler from polling the network), and time.Sleep
// cannot pause below about 1 ms in an idle process. So it blocks on its own
// subscription to the events channel until the write's event arrives, then
// checks Token after each PING round trip on its own connection (about
// 30-50 µs, waiting in the network poller like the Reader's reload does)
// for the short rest.
func (b *Bench) Propagation(ctx context.Context, updates int) (lat []time.Duration, lost int, err error) {
	sub := b.rdb.Subscribe(ctx, b.w.st.Keys().Events())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		return nil, 0, fmt.Errorf("subscribe: %w", err)
	}
	lat = make([]time.Duration, 0, updates)
	for range updates {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		start := time.Now()
		v, err := b.w.write(ctx)
		if err != nil {
			return nil, 0, err
		}
		if err := waitEvent(ctx, sub, v); err != nil {
			return nil, 0, err
		}
		for {
			tok, err := b.r.Token(ctx, app)
			if err == nil && tok.Version >= v {
				lat = append(lat, time.Since(start))
				break
			}
			if time.Since(start) > 2*time.Second {
				lost++
				break
			}
			if err := b.rdb.Ping(ctx).Err(); err != nil {
				return nil, 0, err
			}
		}
	}
	return lat, lost, nil
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
