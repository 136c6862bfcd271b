package reader

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/integration/redisserver"
)

// Reader tests about the wire, outages and real time, mostly against
// redis-server.

func TestReader_staleIfError(t *testing.T) {
	t.Run("miniredis closed", func(t *testing.T) {
		mr := miniredis.RunT(t)
		rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
		defer rdb.Close()
		s := newStore(t, rdb)
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		clk := clocktesting.NewFakeClock(t0)
		v := putSilently(t, s, rdb, "app", "tok-1", time.Minute)
		r := newReader(t, rdb, Config{Clock: clk, RefreshBefore: 30 * time.Second})
		tok := mustToken(t, r, "app")
		if !tok.ExpiresAt.Equal(t0.Add(time.Minute)) || tok.Version != v {
			t.Fatalf("token %v, want version %d expiring at %s", tok, v, t0.Add(time.Minute))
		}
		mr.Close()
		for _, d := range []time.Duration{29 * time.Second, 45 * time.Second, time.Minute - time.Nanosecond} {
			clk.SetTime(t0.Add(d))
			if got, err := r.Token(context.Background(), "app"); err != nil || got != tok {
				t.Fatalf("at +%s with Redis down: %v %v, want the cached token", d, got, err)
			}
		}
		clk.SetTime(t0.Add(time.Minute))
		_, err := r.Token(context.Background(), "app")
		if !errors.Is(err, ErrTokenExpired) || !errors.Is(err, ErrNoToken) {
			t.Fatalf("at expiry with Redis down: %v, want ErrTokenExpired", err)
		}
	})
	t.Run("redis-server stopped", func(t *testing.T) {
		srv := redisserver.Start(t)
		rdb := srv.Client()
		s := newStore(t, rdb)
		putToken(t, s, rdb, "app")
		r := newReader(t, rdb, Config{})
		tok := mustToken(t, r, "app")
		subscribed(t, r)
		srv.Stop()
		if err := rdb.Ping(context.Background()).Err(); err == nil {
			t.Fatal("server still answers")
		}
		for range 100 {
			if got := mustToken(t, r, "app"); got != tok {
				t.Fatalf("server stopped: %v, want %v", got, tok)
			}
		}
		start := time.Now()
		r.Close()
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Close with the server down took %s", d)
		}
	})
}

func TestReader_resyncAfterSubscriptionKilled(t *testing.T) {
	srv := redisserver.Start(t)
	rdb := srv.Client()
	s := newStore(t, rdb)
	putToken(t, s, rdb, "app")
	r := newReader(t, rdb, Config{ResyncInterval: time.Hour})
	mustToken(t, r, "app")
	subscribed(t, r)
	resyncs := r.resyncs.Load()

	v2 := putSilently(t, s, rdb, "app", "tok-silent", time.Hour) // its event is lost
	if tok := mustToken(t, r, "app"); tok.Value == "tok-silent" {
		t.Fatal("saw a write that sent no event: test proves nothing")
	}
	if n := rdb.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Val(); n != 1 {
		t.Fatalf("killed %d pubsub connections, want 1", n)
	}
	tok := waitVersion(t, r, "app", v2)
	if tok.Value != "tok-silent" || r.resyncs.Load() <= resyncs {
		t.Fatalf("after reconnect: %v, resyncs %d", tok, r.resyncs.Load())
	}
}

// TestReader_outage: Redis unreachable (proxy cut) while a token is
// written; the cached token is served meanwhile, the new one after.
func TestReader_outage(t *testing.T) {
	srv := redisserver.Start(t)
	direct := srv.Client()
	s := newStore(t, direct)
	v1 := putToken(t, s, direct, "app")
	p := startProxy(t, srv.Addr)
	viaProxy := redis.NewClient(&redis.Options{Addr: p.addr, ReadTimeout: 200 * time.Millisecond, DialTimeout: 200 * time.Millisecond})
	defer viaProxy.Close()
	r := newReader(t, viaProxy, Config{ResyncInterval: time.Hour})
	mustToken(t, r, "app")
	subscribed(t, r)

	p.cut()
	v2 := putToken(t, s, direct, "app")
	for range 100 {
		if tok := mustToken(t, r, "app"); tok.Version != v1 {
			t.Fatalf("during outage: %v", tok)
		}
	}
	p.restore()
	waitVersion(t, r, "app", v2)
}

// TestReader_halfOpenSubscription: the network silently drops everything
// on the existing connections; unanswered pings replace the subscription.
func TestReader_halfOpenSubscription(t *testing.T) {
	srv := redisserver.Start(t)
	direct := srv.Client()
	s := newStore(t, direct)
	putToken(t, s, direct, "app")
	p := startProxy(t, srv.Addr)
	viaProxy := redis.NewClient(&redis.Options{Addr: p.addr, ReadTimeout: 200 * time.Millisecond, MaxRetries: 5})
	defer viaProxy.Close()
	r := newReader(t, viaProxy, Config{ResyncInterval: time.Hour, PingInterval: 50 * time.Millisecond})
	mustToken(t, r, "app")
	subscribed(t, r)

	p.blackhole()
	v2 := putToken(t, s, direct, "app")
	waitVersion(t, r, "app", v2)
}

// TestReader_neverExpired_realClock drives the real-clock fast path (no
// clock read while fresh) across a token's expiry.
func TestReader_neverExpired_realClock(t *testing.T) {
	srv := redisserver.Start(t)
	rdb := srv.Client()
	s := newStore(t, rdb)
	putSilently(t, s, rdb, "app", "short-lived", 400*time.Millisecond)
	r := newReader(t, rdb, Config{RefreshBefore: 200 * time.Millisecond, ResyncInterval: time.Hour})
	first := mustToken(t, r, "app")
	if !(*r.apps.Load())["app"].cur.Load().fresh.Load() {
		t.Fatal("fresh token not on the fast path")
	}
	ctx := context.Background()
	var served int
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		before := time.Now()
		tok, err := r.Token(ctx, "app")
		if err == nil {
			served++
			if !tok.ExpiresAt.After(before) {
				t.Fatalf("returned a token that expired %s before the call", before.Sub(tok.ExpiresAt))
			}
		} else if !errors.Is(err, ErrNoToken) {
			t.Fatal(err)
		}
	}
	if served == 0 || time.Now().Before(first.ExpiresAt) {
		t.Fatalf("served %d times; test ended before expiry", served)
	}
}

// proxy forwards 127.0.0.1 TCP to a Redis, and can cut or blackhole it.
type proxy struct {
	t      *testing.T
	target string
	addr   string
	wg     sync.WaitGroup

	mu    sync.Mutex // guards ln and conns
	ln    net.Listener
	conns map[net.Conn]*atomic.Bool // -> drop everything
}

func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]*atomic.Bool{}}
	p.restore()
	t.Cleanup(p.cut)
	return p
}

// restore listens again on the same address.
func (p *proxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			drop := new(atomic.Bool)
			p.mu.Lock()
			p.conns[c], p.conns[up] = drop, drop
			p.mu.Unlock()
			p.wg.Go(func() { p.pipe(c, up, drop) })
			p.wg.Go(func() { p.pipe(up, c, drop) })
		}
	})
}

func (p *proxy) pipe(from, to net.Conn, drop *atomic.Bool) {
	defer from.Close()
	defer to.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if err != nil {
			return
		}
		if drop.Load() {
			continue
		}
		if _, err := to.Write(buf[:n]); err != nil {
			return
		}
	}
}

// cut closes the listener and every connection: Redis is unreachable.
func (p *proxy) cut() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	p.mu.Unlock()
	p.wg.Wait()
}

// blackhole silently drops all traffic on the existing connections, like
// a network that lost the peer without a reset; new connections work.
func (p *proxy) blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, drop := range p.conns {
		drop.Store(true)
	}
}
