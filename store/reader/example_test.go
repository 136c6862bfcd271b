package reader_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/reader"
)

func ExampleReader_Token() {
	rdb, stop := exampleRedis() // a Redis where tokend keeps mp-main's token
	defer stop()

	r, err := reader.New(rdb, reader.Config{Prefix: "tokend"})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	tok, err := r.Token(context.Background(), "mp-main") // from memory after the first call
	if err != nil {
		log.Fatal(err) // errors.Is(err, reader.ErrNoToken): no valid token to be had
	}
	fmt.Println(tok.Value, tok.Version, time.Until(tok.ExpiresAt).Round(time.Hour))
	// Output: token-1 1 2h0m0s
}

func ExampleReader_ReportInvalid() {
	rdb, stop := exampleRedis()
	defer stop()
	r, err := reader.New(rdb, reader.Config{Prefix: "tokend"})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	tok, err := r.Token(ctx, "mp-main")
	if err != nil {
		log.Fatal(err)
	}

	// The upstream answered errcode 40001 for tok: tell the leader, and
	// move on; Token returns the replacement once it is written.
	err = r.ReportInvalid(ctx, "mp-main", tok.Value)
	fmt.Println(err)
	// Output: <nil>
}

func ExampleReader_ReportAndWait() {
	rdb, stop := exampleRedis()
	defer stop()

	r, err := reader.New(rdb, reader.Config{Prefix: "tokend"})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	ctx := context.Background()
	tok, err := r.Token(ctx, "mp-main")
	if err != nil {
		log.Fatal(err)
	}
	// The upstream answered errcode 40001 (or 40014, 42001) for tok:
	// report it and wait, bounded, for the leader's replacement.
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tok, err = r.ReportAndWait(wait, "mp-main", tok.Value)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Value, tok.Version)
	// Output: token-2 2
}

func ExampleReader_Signature() {
	rdb, stop := exampleRedis() // tokend also keeps mp-main's jsapi ticket there
	defer stop()

	r, err := reader.New(rdb, reader.Config{Prefix: "tokend"})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()

	// The page's location.href, as the browser sends it: the fragment is
	// not signed, nothing else is changed.
	sig, err := r.Signature(context.Background(), "mp-main", "jsapi", "https://example.com/pay?order=42#top")
	if err != nil {
		log.Fatal(err) // a *jssdk.URLError, or reader.ErrNoToken: no valid ticket
	}
	// wx.config({appId, timestamp: sig.Timestamp, nonceStr: sig.NonceStr, signature: sig.Signature, ...})
	fmt.Println(sig.URL, len(sig.NonceStr), len(sig.Signature))
	// Output: https://example.com/pay?order=42 16 40
}

// exampleRedis starts an in-memory Redis holding what a tokend leader
// wrote for mp-main (token-1, valid 2h) and its jsapi ticket (ticket-1),
// and a stand-in leader that answers a report of the current token with
// the next one. stop ends both.
func exampleRedis() (rdb *redis.Client, stop func()) {
	mr, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	rdb = redis.NewClient(&redis.Options{Addr: mr.Addr()})
	st, err := store.New(store.Config{Client: rdb})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	n := 0
	write := func() {
		n++
		rdb.Set(ctx, st.Keys().Lease(), "example-lease", time.Minute)
		tk, err := st.TakeTicket(ctx, "mp-main", "example-lease", 0)
		if err == nil {
			_, err = st.WriteToken(ctx, store.Write{App: "mp-main", Ticket: tk,
				Token: fmt.Sprintf("token-%d", n), ExpiresIn: 2 * time.Hour, SafetyMargin: time.Minute})
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	write()
	rdb.Set(ctx, st.Keys().Lease(), "example-lease", time.Minute)
	if tk, err := st.TakeTicket(ctx, "mp-main:jsapi", "example-lease", 0); err != nil {
		log.Fatal(err)
	} else if _, err := st.WriteToken(ctx, store.Write{App: "mp-main:jsapi", Ticket: tk,
		Token: "ticket-1", ExpiresIn: 2 * time.Hour, SafetyMargin: time.Minute}); err != nil {
		log.Fatal(err)
	}
	sub := st.Subscribe(ctx)
	if _, err := sub.Receive(ctx); err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := sub.ReceiveMessage(ctx)
			if err != nil {
				return // closed by stop
			}
			ev, _ := event.Parse(msg.Payload)
			if ev.Type != event.Report {
				continue
			}
			pending, _ := st.PendingReports(ctx)
			if rec, _ := st.Record(ctx, ev.App); rec.Token == pending[ev.App] {
				write() // compare-and-refresh: only the current token is refreshed
			}
			_, _ = st.ClearReport(ctx, ev.App, pending[ev.App])
		}
	}()
	return rdb, func() {
		_ = sub.Close()
		<-done
		_ = rdb.Close()
		mr.Close()
	}
}
