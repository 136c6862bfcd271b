package reader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store"
)

var quiet = slog.New(slog.DiscardHandler)

func newReader(t testing.TB, rdb Client, opts Config) *Reader {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	r, err := New(rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// subscribed waits until r's subscription is confirmed (its first resync).
func subscribed(t testing.TB, r *Reader) {
	t.Helper()
	n := r.resyncs.Load()
	if n > 0 {
		return
	}
	waitFor(t, 5*time.Second, "first resync", func() bool { return r.resyncs.Load() > n })
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	wait.For(t, timeout, what, cond)
}

// putToken writes tok-<app>-<n> like a leader: ticket, fenced write, event.
func putToken(t testing.TB, s *store.Store, rdb *redis.Client, app string) int64 {
	t.Helper()
	ctx := context.Background()
	if err := rdb.Set(ctx, s.Keys().Lease(), lease, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	tk, err := s.TakeTicket(ctx, app, lease, 0)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.WriteToken(ctx, store.Write{App: app, Ticket: tk, Token: fmt.Sprintf("tok-%s-%d", app, tk.N),
		ExpiresIn: 2 * time.Hour, SafetyMargin: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return v.Version
}

// putSilently writes value for app by hand, with a higher ticket and no
// event: a write whose event the Reader missed.
func putSilently(t testing.TB, s *store.Store, rdb *redis.Client, app, value string, ttl time.Duration) int64 {
	t.Helper()
	ctx := context.Background()
	if err := rdb.Set(ctx, s.Keys().Token(app), value, ttl).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, s.Keys().Meta(app), "token", value)
	rdb.HIncrBy(ctx, s.Keys().Meta(app), "ticket", 1)
	return rdb.HIncrBy(ctx, s.Keys().Meta(app), "version", 1).Val()
}

func mustToken(t testing.TB, r *Reader, app string) Token {
	t.Helper()
	tok, err := r.Token(context.Background(), app)
	if err != nil {
		t.Fatalf("Token(%s): %v", app, err)
	}
	return tok
}

func waitVersion(t testing.TB, r *Reader, app string, v int64) Token {
	t.Helper()
	var tok Token
	waitFor(t, 10*time.Second, fmt.Sprintf("%s version %d", app, v), func() bool {
		tok, _ = r.Token(context.Background(), app)
		return tok.Version == v
	})
	return tok
}

func TestNew_validates(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for name, opts := range map[string]Config{
		"bad prefix":     {Prefix: "a}b"},
		"refresh before": {RefreshBefore: -1},
		"resync":         {ResyncInterval: -time.Second},
		"ping":           {PingInterval: -time.Second},
	} {
		if r, err := New(rdb, opts); err == nil {
			r.Close()
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Error("nil client accepted")
	}
}

func TestReader_Token_servedFromMemory(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := newStore(t, rdb)
	v := putToken(t, s, rdb, "mp-main")
	r := newReader(t, rdb, Config{})
	subscribed(t, r)
	ctx := context.Background()

	tok := mustToken(t, r, "mp-main")
	if tok.Version != v || !strings.HasPrefix(tok.Value, "tok-mp-main-") {
		t.Fatalf("first read: %+v", tok)
	}
	if left := time.Until(tok.ExpiresAt); left <= time.Hour || left > 2*time.Hour-time.Minute {
		t.Fatalf("ExpiresAt in %s, want about 1h59m (the key's TTL)", left)
	}
	before := mr.CommandCount()
	for range 1000 {
		if got, err := r.Token(ctx, "mp-main"); err != nil || got != tok {
			t.Fatalf("hit: %v %v", got, err)
		}
	}
	if n := mr.CommandCount() - before; n != 0 {
		t.Fatalf("hits sent %d Redis commands", n)
	}
	if a := testing.AllocsPerRun(1000, func() { _, _ = r.Token(ctx, "mp-main") }); a != 0 {
		t.Fatalf("hit allocates %.1f times", a)
	}
}

func TestReader_Token_errors(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	r := newReader(t, rdb, Config{})
	ctx := context.Background()
	if _, err := r.Token(ctx, "a b"); !errors.Is(err, ErrInvalidApp) {
		t.Fatalf("bad app: %v", err)
	}
	if _, err := r.Token(ctx, "never-written"); !errors.Is(err, ErrNoToken) || errors.Is(err, ErrTokenExpired) {
		t.Fatalf("unknown app: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Token(cancelled, "other"); !errors.Is(err, context.Canceled) && !errors.Is(err, ErrNoToken) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	mr.Close()
	if _, err := r.Token(ctx, "unreachable"); !errors.Is(err, ErrNoToken) || errors.Is(err, ErrTokenExpired) {
		t.Fatalf("first read with Redis down: %v", err)
	}
	r.Close()
	if _, err := r.Token(ctx, "never-written"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestReader_updateSeenAfterEvent(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store, rdb *redis.Client) {
		ctx := context.Background()
		putToken(t, s, rdb, "app")
		r := newReader(t, rdb, Config{ResyncInterval: time.Hour})
		tok1 := mustToken(t, r, "app")
		subscribed(t, r)
		// Noise on the channel is ignored.
		rdb.Publish(ctx, s.Keys().Events(), "not json")
		rdb.Publish(ctx, s.Keys().Events(), `{"type":"report","app":"app"}`)
		rdb.Publish(ctx, s.Keys().Events(), `{"type":"token","app":"uncached","version":1}`)
		v2 := putToken(t, s, rdb, "app")
		tok2 := waitVersion(t, r, "app", v2)
		// Both tokens live an hour from their writes, which may fall in one
		// millisecond: the expiry may tie (PTTL is in ms), never go back
		// by more than that rounding.
		if tok2.Value == tok1.Value || tok2.ExpiresAt.Before(tok1.ExpiresAt.Add(-2*time.Millisecond)) {
			t.Fatalf("update: %v -> %v", tok1, tok2)
		}
	})
}

// TestReader_newerTicketWins: after Redis lost its data, versions restart
// at 1 but tickets keep growing; the Reader follows tickets.
func TestReader_newerTicketWins(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := newStore(t, rdb)
	putToken(t, s, rdb, "app")
	putToken(t, s, rdb, "app")
	r := newReader(t, rdb, Config{ResyncInterval: time.Hour})
	old := mustToken(t, r, "app")
	subscribed(t, r)
	mr.FlushAll()
	time.Sleep(2 * time.Millisecond) // tickets are Redis TIME in ms
	if v := putToken(t, s, rdb, "app"); v != 1 {
		t.Fatalf("version after FlushAll = %d", v)
	}
	waitVersion(t, r, "app", 1)

	// A read of an older write arriving late is dropped.
	e := (*r.apps.Load())["app"]
	cur := e.cur.Load()
	r.install(e, &cached{tok: old, ticket: cur.ticket - 1, deadline: cur.deadline, changed: make(chan struct{})})
	if e.cur.Load() != cur {
		t.Fatal("an older ticket replaced the current token")
	}
}

func TestReader_expiry(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		after time.Duration
		ok    bool
	}{
		{0, true},
		{time.Minute - time.Millisecond, true},
		{time.Minute, false}, // expiry itself is past
		{time.Minute + time.Millisecond, false},
	} {
		t.Run(tc.after.String(), func(t *testing.T) {
			mr := miniredis.RunT(t)
			rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			defer rdb.Close()
			s := newStore(t, rdb)
			clk := clocktesting.NewFakeClock(t0)
			putSilently(t, s, rdb, "app", "tok-1", time.Minute)
			r := newReader(t, rdb, Config{Clock: clk, RefreshBefore: time.Second})
			mustToken(t, r, "app")
			mr.FastForward(tc.after) // Redis and the local clock agree
			clk.Step(tc.after)
			tok, err := r.Token(context.Background(), "app")
			if tc.ok != (err == nil) {
				t.Fatalf("at +%s: %v %v, want ok=%v", tc.after, tok, err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, ErrNoToken) {
				t.Fatalf("at +%s: %v, want ErrNoToken", tc.after, err)
			}
		})
	}
}

// TestReader_refreshBeforeExpiry: a token in its last RefreshBefore is
// re-read though no event came.
func TestReader_refreshBeforeExpiry(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := newStore(t, rdb)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	putSilently(t, s, rdb, "app", "tok-1", time.Minute)
	r := newReader(t, rdb, Config{Clock: clk, RefreshBefore: 8 * time.Second, ResyncInterval: time.Hour})
	mustToken(t, r, "app")
	subscribed(t, r)
	v2 := putSilently(t, s, rdb, "app", "tok-2", 2*time.Minute)
	clk.Step(50 * time.Second) // 10s left: not yet due
	mr.FastForward(50 * time.Second)
	time.Sleep(1500 * time.Millisecond) // > one scan period (1s): nothing may happen
	if tok := mustToken(t, r, "app"); tok.Value != "tok-1" {
		t.Fatalf("reloaded before due: %v", tok)
	}
	clk.Step(2*time.Second + time.Millisecond) // 8s - 1ms left: due
	mr.FastForward(2 * time.Second)
	waitVersion(t, r, "app", v2)
}

// TestReader_concurrent: 64 goroutines read 100 apps while tokens change;
// each sees, per app, versions that never go back and the value written
// with that version.
func TestReader_concurrent(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := newStore(t, rdb)
	const apps = 100
	names := make([]string, apps)
	for i := range names {
		names[i] = fmt.Sprintf("app-%03d", i)
		putVersioned(t, s, rdb, names[i])
	}
	r := newReader(t, rdb, Config{})
	ctx := context.Background()
	var (
		wg     sync.WaitGroup
		failed atomic.Value
	)
	for g := range 64 {
		wg.Go(func() {
			seen := make([]int64, apps)
			for range 20 {
				for i := range apps {
					k := (i + g) % apps
					tok, err := r.Token(ctx, names[k])
					if err != nil {
						failed.CompareAndSwap(nil, fmt.Sprintf("%s: %v", names[k], err))
						return
					}
					if tok.Version < seen[k] || tok.Value != names[k]+"-v"+strconv.FormatInt(tok.Version, 10) {
						failed.CompareAndSwap(nil, fmt.Sprintf("%s: version %d after %d, value %q", names[k], tok.Version, seen[k], tok.Value))
						return
					}
					seen[k] = tok.Version
				}
			}
		})
	}
	for i := range 200 {
		putVersioned(t, s, rdb, names[(i*7)%apps])
	}
	wg.Wait()
	if msg := failed.Load(); msg != nil {
		t.Fatal(msg)
	}
	for _, app := range names {
		want, _ := s.Record(ctx, app)
		waitVersion(t, r, app, want.Version)
	}
}

func TestReader_Close(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	mr, err := miniredis.Run()
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := newStore(t, rdb)
	putToken(t, s, rdb, "app")
	r, err := New(rdb, Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	tok := mustToken(t, r, "app")
	subscribed(t, r)
	waiting := make(chan error, 1)
	go func() {
		_, err := r.ReportAndWait(context.Background(), "app", tok.Value)
		waiting <- err
	}()
	waitFor(t, 5*time.Second, "the report", func() bool { got, _ := s.PendingReports(context.Background()); return len(got) == 1 })
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; !errors.Is(err, ErrClosed) {
		t.Fatalf("waiter after Close: %v", err)
	}
	if _, err := r.Token(context.Background(), "app"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Token after Close: %v", err)
	}
	if err := r.ReportInvalid(context.Background(), "app", "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReportInvalid after Close: %v", err)
	}
}

func TestToken_redacts(t *testing.T) {
	tok := Token{Value: "SECRET-access-token", ExpiresAt: time.Unix(1_700_000_000, 0), Version: 3}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("t", "token", tok)
	outs := []string{tok.String(), logged.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, tok), fmt.Sprintf(verb, &tok), fmt.Sprintf(verb, []Token{tok}))
	}
	for _, out := range outs {
		if strings.Contains(out, "SECRET") || !strings.Contains(out, tok.Fingerprint()) {
			t.Errorf("%q leaks the token or lacks its fingerprint", out)
		}
	}
	if fp := tok.Fingerprint(); len(fp) != 8 {
		t.Errorf("fingerprint %q", fp)
	}
	if (Token{}).String() != "token(none)" || (Token{}).Fingerprint() != "" {
		t.Error("empty token")
	}
}

// TestReader_slowPathOneLoadPerApp: while Redis hangs, callers that give up
// leave one load per app behind, not one goroutine each.
func TestReader_slowPathOneLoadPerApp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() { // accepts and never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, ReadTimeout: 300 * time.Millisecond})
	defer rdb.Close()
	r, err := New(rdb, Config{})
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	for range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		if _, err := r.Token(ctx, "app"); err == nil {
			t.Fatal("a token from a Redis that never answers")
		}
		cancel()
	}
	if extra := runtime.NumGoroutine() - base; extra > 20 {
		t.Fatalf("%d goroutines left by 200 abandoned calls, want about one load", extra)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}
