package compat

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"strconv"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
)

func rec(tok string, ttl time.Duration) store.Record {
	return store.Record{Token: tok, TTL: ttl}
}

// TestTokenIndex_observe: the current token and, for the app's overlap
// but never past its own expiry, the one it replaced; the one before that
// is forgotten; an app with no overlap keeps only its current token.
func TestTokenIndex_observe(t *testing.T) {
	clk := clocktesting.NewFakeClock(compatT0)
	x := newTokenIndex(map[string]time.Duration{"mp": 5 * time.Minute, "hr": 0}, nil, clk, slog.New(slog.DiscardHandler))
	at := func(d time.Duration) time.Time { return compatT0.Add(d) }
	x.observe("mp", rec("t1", 2*time.Hour), at(0))
	x.observe("mp", rec("t1", 2*time.Hour), at(time.Minute)) // a re-read: nothing replaced
	x.observe("mp", rec("t2", 2*time.Hour), at(10*time.Minute))
	x.observe("hr", rec("w1", time.Hour), at(10*time.Minute))
	x.observe("hr", rec("w2", time.Hour), at(11*time.Minute))
	x.observe("hr", store.Record{}, at(11*time.Minute)) // no live token: changes nothing
	tests := []struct {
		now       time.Duration
		tok, want string // want "": unknown
	}{
		{11 * time.Minute, "t1", "mp"},        // previous, inside the overlap
		{15*time.Minute - 1, "t1", "mp"},      // the overlap's last instant
		{15 * time.Minute, "t1", ""},          // overlap over
		{15 * time.Minute, "t2", "mp"},        // current
		{130*time.Minute - 1, "t2", "mp"},     // current until its TTL
		{130 * time.Minute, "t2", ""},         // expired
		{11 * time.Minute, "w1", ""},          // no overlap
		{11 * time.Minute, "w2", "hr"},        // current
		{11 * time.Minute, "nope", ""},        // never seen
		{11 * time.Minute, "mp", ""},          // an app id is not a token
		{71*time.Minute - 1, "w2", "hr"},      // until its own TTL
		{71 * time.Minute, "w2", ""},          // expired
		{11 * time.Minute, "t2", "mp"},        // still current
		{14 * time.Minute, "t1", "mp"},        // previous
		{0, "t1", "mp"},                       // clock behind: still accepted
		{130*time.Minute + 1, "t1", ""},       // long past
		{130*time.Minute + time.Hour, "", ""}, // empty
	}
	for _, tt := range tests {
		clk.SetTime(at(tt.now))
		got, ok := x.find(digest(sha256.Sum256([]byte(tt.tok))))
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("at +%s %q: %q %v, want %q", tt.now, tt.tok, got, ok, tt.want)
		}
	}
	// A third token forgets the first; a previous token never outlives
	// its own expiry.
	x.observe("mp", rec("t3", 2*time.Hour), at(20*time.Minute))
	x.observe("mp", rec("t4", 2*time.Hour), at(21*time.Minute))
	clk.SetTime(at(22 * time.Minute))
	for tok, want := range map[string]bool{"t1": false, "t2": false, "t3": true, "t4": true} {
		if _, ok := x.find(digest(sha256.Sum256([]byte(tok)))); ok != want {
			t.Errorf("after t4: %s known %v, want %v", tok, ok, want)
		}
	}
	if n := len(x.byDigest); n != 3 { // t3, t4, w2
		t.Errorf("index holds %d entries, want 3", n)
	}
	x.overlap["hr"] = time.Hour
	x.observe("hr", rec("w3", 2*time.Minute), at(22*time.Minute))
	x.observe("hr", rec("w4", time.Hour), at(23*time.Minute))
	for at, want := range map[time.Time]bool{at(24*time.Minute - 1): true, at(24 * time.Minute): false} {
		clk.SetTime(at)
		if _, ok := x.find(digest(sha256.Sum256([]byte("w3")))); ok != want {
			t.Errorf("w3 (expiring at +24m) replaced with a 1h overlap, at %s: known %v, want %v", at, ok, want)
		}
	}
}

// TestCompat_ticket_previousToken: the ticket routes accept the token the
// current one replaced for WeChat's 5 minutes, learnt on a miss; then the
// upstream's 40001.
func TestCompat_ticket_previousToken(t *testing.T) {
	e, clk := newCompatEnv(t)
	e.writeAll(t)
	path := func(tok string) string { return "/cgi-bin/ticket/getticket?type=jsapi&access_token=" + tok }
	if r := e.do(t, "GET", path("tok-mp"), ""); r.body["ticket"] != "ticket-mp-jsapi" {
		t.Fatalf("current token: %s", r.raw)
	}
	e.writeToken(t, "mp", "tok-mp-2") // the leader rotates
	clk.Step(2 * time.Second)         // past fullSyncEvery: the next miss re-reads
	if r := e.do(t, "GET", path("tok-mp-2"), ""); r.body["ticket"] != "ticket-mp-jsapi" {
		t.Fatalf("new token: %s", r.raw)
	}
	clk.Step(5*time.Minute - time.Nanosecond) // learnt 5 minutes ago, less 1ns
	if r := e.do(t, "GET", path("tok-mp"), ""); r.body["ticket"] != "ticket-mp-jsapi" {
		t.Fatalf("previous token inside the overlap: %s", r.raw)
	}
	clk.Step(time.Nanosecond)
	if r := e.do(t, "GET", path("tok-mp"), ""); errcodeOf(r) != 40001 {
		t.Fatalf("previous token past the overlap: %s", r.raw)
	}
	// Misses re-read Redis at most once per fullSyncEvery: a token written
	// now is unknown until then.
	e.writeToken(t, "mp", "tok-mp-3")
	if r := e.do(t, "GET", path("tok-mp-3"), ""); errcodeOf(r) != 40001 {
		t.Fatalf("a miss right after a sync re-read Redis: %s", r.raw)
	}
	clk.Step(fullSyncEvery)
	if r := e.do(t, "GET", path("tok-mp-3"), ""); r.body["ticket"] != "ticket-mp-jsapi" {
		t.Fatalf("a miss a second later: %s", r.raw)
	}
}

// TestCompat_run_events: Run learns each write from its token event,
// without a miss, and keeps the replaced token; it returns when ctx ends.
func TestCompat_run_events(t *testing.T) {
	clk := clocktesting.NewFakeClock(compatT0)
	e := newEnvWith(t, func(c *Config) { c.Apps, c.Clock = compatApps(), clk })
	hub, err := event.NewHub(event.HubConfig{Subscribe: e.store.Subscribe, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.routes.events = hub              // Config.Events: the hub needs the env's store
	e.routes.index.lastFull = compatT0 // the frozen clock: misses never re-read
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = hub.Run(ctx); done <- struct{}{} }()
	go func() { _ = e.routes.Run(ctx); done <- struct{}{} }()
	defer func() { cancel(); <-done; <-done }()
	known := func(tok string) bool {
		_, ok := e.routes.index.find(digest(sha256.Sum256([]byte(tok))))
		return ok
	}
	e.writeToken(t, "mp", "tok-1")
	if _, ok := wait.Poll(5*time.Second, func() bool { return known("tok-1") }); !ok {
		t.Fatal("tok-1 never learnt from its event")
	}
	e.writeToken(t, "mp", "tok-2")
	if _, ok := wait.Poll(5*time.Second, func() bool { return known("tok-2") }); !ok || !known("tok-1") {
		t.Fatalf("after tok-2: tok-2 %v, tok-1 %v", known("tok-2"), known("tok-1"))
	}
	e.writeToken(t, "mp:jsapi", "ticket-1") // a ticket's event re-reads nothing
	if r := e.do(t, "GET", "/cgi-bin/ticket/getticket?type=jsapi&access_token=tok-1", ""); r.body["ticket"] != "ticket-1" {
		t.Fatalf("ticket by the previous token: %s", r.raw)
	}
}

// TestTokenIndex_syncGap: misses re-read every app at most once a second,
// and at most once per millisecond per app: one record read per app per
// second at most, however many apps.
func TestTokenIndex_syncGap(t *testing.T) {
	for n, want := range map[int]time.Duration{0: time.Second, 10: time.Second, 1000: time.Second, 1001: 1001 * time.Millisecond, 10000: 10 * time.Second} {
		overlap := map[string]time.Duration{}
		for i := range n {
			overlap[strconv.Itoa(i)] = 0
		}
		if got := newTokenIndex(overlap, nil, clocktesting.NewFakeClock(compatT0), slog.New(slog.DiscardHandler)).syncGap(); got != want {
			t.Errorf("%d apps: gap %s, want %s", n, got, want)
		}
	}
}
