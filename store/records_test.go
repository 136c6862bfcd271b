package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// narrowClient has only RecordsClient's methods, so a Records call that
// needed more would not compile.
type narrowClient struct{ RecordsClient }

func TestNewRecords_config(t *testing.T) {
	for name, tc := range map[string]struct {
		rdb    RecordsClient
		prefix string
		field  string
	}{
		"nil client": {nil, "tokend", "Client"},
		"bad prefix": {narrowClient{}, "a}b", "Prefix"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewRecords(tc.rdb, tc.prefix)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
	r, err := NewRecords(narrowClient{}, "")
	if err != nil || r.Keys().Events() != "{tokend}:events" {
		t.Fatalf("default prefix: %v, %v", r, err)
	}
}

// TestRecords_narrowClient: every Records call works on a client with
// only RecordsClient's methods, and sees what a Store wrote.
func TestRecords_narrowClient(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	s := newStore(t, rdb)
	holdLease(t, s, rdb)
	tk, err := s.TakeTicket(ctx, "app", lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	v, err := write(t, s, "app", "tok-1", tk, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	r, err := NewRecords(narrowClient{rdb}, "tokend")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Record(ctx, "app")
	if err != nil || rec.Token != "tok-1" || rec.Version != v {
		t.Fatalf("Record = %v, %v", rec, err)
	}
	if _, err := r.Record(ctx, "other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Record(other) err = %v, want ErrNotFound", err)
	}
	ps := r.Subscribe(ctx)
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	if err := r.Report(ctx, "app", "tok-1"); err != nil {
		t.Fatal(err)
	}
	msg, err := ps.ReceiveMessage(ctx)
	if err != nil || msg.Channel != "{tokend}:events" {
		t.Fatalf("event = %v, %v", msg, err)
	}
	if got, err := r.PendingReport(ctx, "app"); err != nil || got != "tok-1" {
		t.Fatalf("PendingReport = %q, %v", got, err)
	}
	if got, err := s.PendingReport(ctx, "app"); err != nil || got != "tok-1" {
		t.Fatalf("Store.PendingReport = %q, %v", got, err)
	}
}
