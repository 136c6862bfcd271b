package reader

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/store"
)

// The figures these benchmarks print are in the README ("Library mode").
// Run: go test -run '^$' -bench . -benchtime 2s ./store/

// BenchmarkReader_Token is a hit: the token is cached and fresh.
func BenchmarkReader_Token(b *testing.B) {
	rdb := redisserver.Start(b).Client()
	s := benchStore(b, rdb)
	putToken(b, s, rdb, "mp-main")
	r := newReader(b, rdb, Config{})
	ctx := context.Background()
	mustToken(b, r, "mp-main")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Token(ctx, "mp-main"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisGet is what the hit replaces: a GET of the token key over
// loopback, on the same kind of server.
func BenchmarkRedisGet(b *testing.B) {
	rdb := redisserver.Start(b).Client()
	s := benchStore(b, rdb)
	putToken(b, s, rdb, "mp-main")
	ctx := context.Background()
	key := s.Keys().Token("mp-main")
	b.ReportAllocs()
	for b.Loop() {
		if err := rdb.Get(ctx, key).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReader_Propagation: one op is one token write; the latency is
// from WriteToken returning (the event is published by then) until Token
// returns the new version. Reports p50 and p99 over all b.N writes.
func BenchmarkReader_Propagation(b *testing.B) {
	rdb := redisserver.Start(b).Client()
	s := benchStore(b, rdb)
	putToken(b, s, rdb, "mp-main")
	r := newReader(b, rdb, Config{ResyncInterval: time.Hour})
	ctx := context.Background()
	mustToken(b, r, "mp-main")
	subscribed(b, r)
	e := (*r.apps.Load())["mp-main"]
	var lat []time.Duration
	for b.Loop() {
		v := putToken(b, s, rdb, "mp-main")
		start := time.Now()
		timeout := time.After(5 * time.Second)
		for {
			// Look at the entry before Token, so no change is missed; then
			// sleep until it changes rather than spin: on a small machine
			// a spinning waiter steals the CPU the listener and Redis need.
			changed := e.cur.Load().changed
			if tok, err := r.Token(ctx, "mp-main"); err == nil && tok.Version >= v {
				break
			}
			select {
			case <-changed:
			case <-timeout:
				b.Fatalf("version %d not seen after 5s", v)
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(float64(len(lat)), "updates")
}

func benchStore(b *testing.B, rdb store.Client) *store.Store {
	s, err := store.New(store.Config{Client: rdb})
	if err != nil {
		b.Fatal(err)
	}
	return s
}
