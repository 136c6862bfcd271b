package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/redisserver"
)

func TestNew_replicaAck(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	ms := time.Millisecond
	for _, tc := range []struct {
		name            string
		n               int
		timeout, client time.Duration
		want            time.Duration // resolved timeout when field is ""
		field           string        // the FieldError's field
	}{
		{"off", 0, 0, 0, 0, ""},
		{"default timeout", 1, 0, 0, DefaultWaitTimeout, ""},
		{"explicit", 2, 50 * ms, 0, 50 * ms, ""},
		{"1ms edge", 1, ms, 0, ms, ""},
		{"below 1ms", 1, 999 * time.Microsecond, 0, 0, "WaitTimeout"},
		{"negative n", -1, 0, 0, 0, "MinReplicasAck"},
		{"negative timeout", 1, -ms, 0, 0, "WaitTimeout"},
		{"below the client timeout", 1, 999 * ms, time.Second, 999 * ms, ""},
		{"equal to the client timeout", 1, time.Second, time.Second, 0, "WaitTimeout"},
		{"default not below the client timeout", 1, 0, DefaultWaitTimeout, 0, "WaitTimeout"},
		{"off: client timeout not compared", 0, time.Second, time.Second, 0, ""},
		{"negative client timeout", 0, 0, -1, 0, "ClientTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(Config{Client: rdb, MinReplicasAck: tc.n, WaitTimeout: tc.timeout, ClientTimeout: tc.client})
			if tc.field != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.field {
					t.Fatalf("New: err = %v, want a FieldError for %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want; s.ack.n != tc.n || (tc.n > 0 && s.ack.timeout != want) {
				t.Fatalf("ack = %+v, want n=%d timeout=%s", s.ack, tc.n, want)
			}
		})
	}
}

// TestNew_prefix: a bad prefix is a FieldError naming Prefix; no I/O.
func TestNew_prefix(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	_, err := New(Config{Client: rdb, Prefix: "a}b"})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "Prefix" || err.Error() != "store: Prefix: must match [A-Za-z0-9_.:-]{1,64}" {
		t.Fatalf("err = %v", err)
	}
	if _, err := New(Config{}); !errors.As(err, &fe) || fe.Field != "Client" {
		t.Fatalf("no client: err = %v", err)
	}
}

// TestStore_MinReplicasAck runs on a real master with one replica: writes
// acknowledged by the replica succeed and are readable there at once;
// without enough replicas the write happens on the master, no error, and
// the result says Acked false.
//
// It must pass on a loaded machine: it waits until the master lists the
// replica as online (not only the replica's link being up), and the
// acknowledged writes get a WAIT bound of seconds, not milliseconds, on a
// client whose read timeout is longer still. Only the writes that cannot
// be acknowledged use a short bound.
func TestStore_MinReplicasAck(t *testing.T) {
	master := redisserver.Start(t)
	replica := redisserver.StartReplica(t, master)
	redisserver.WaitReplicasOnline(t, master, 1)
	mc := redis.NewClient(&redis.Options{Addr: master.Addr, ReadTimeout: 20 * time.Second, WriteTimeout: 5 * time.Second})
	defer mc.Close()
	rc := replica.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := New(Config{Client: mc, MinReplicasAck: 1, WaitTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.Set(ctx, st.Keys().Lease(), lease, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := mc.ScriptFlush(ctx).Err(); err != nil { // EVALSHA meets NOSCRIPT first
		t.Fatal(err)
	}
	tk, err := st.TakeTicket(ctx, "app", lease, 0)
	if err != nil || !tk.Acked {
		t.Fatalf("TakeTicket with a live replica: %+v, %v; want acked", tk, err)
	}
	if got, _ := rc.Get(ctx, st.Keys().Ticket("app")).Int64(); got != tk.N {
		t.Fatalf("replica holds ticket %d right after an acknowledged TakeTicket, want %d", got, tk.N)
	}
	w := Write{App: "app", Ticket: tk, Token: "tok-1", ExpiresIn: time.Hour, Epoch: 1, Leader: "a"}
	v, err := st.WriteToken(ctx, w)
	if err != nil || v.Version != 1 || !v.Acked || !v.Changed {
		t.Fatalf("WriteToken = %+v, %v; want version 1 acked, nil", v, err)
	}
	if got, _ := rc.Get(ctx, st.Keys().Token("app")).Result(); got != "tok-1" {
		t.Fatalf("replica holds %q right after an acknowledged write", got)
	}
	if v, err := st.WriteToken(ctx, w); err != nil || v.Version != 1 || !v.Acked || v.Changed { // a retry is idempotent
		t.Fatalf("retried write = %+v, %v; want version 1 acked, nil", v, err)
	}
	other := w
	other.Token = "tok-other"
	if _, err := st.WriteToken(ctx, other); !errors.Is(err, ErrStaleTicket) {
		t.Fatalf("stale write: %v, want ErrStaleTicket", err)
	}

	// Two replicas can never acknowledge: a short bound keeps this quick.
	two, err := New(Config{Client: mc, MinReplicasAck: 2, WaitTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tk2, err := two.TakeTicket(ctx, "app", lease, 0)
	if err != nil || tk2.Acked || tk2.N <= tk.N {
		t.Fatalf("TakeTicket wanting 2 replicas of 1 = %+v, %v; want a ticket > %d, not acked", tk2, err, tk.N)
	}

	replica.Stop()
	short, err := New(Config{Client: mc, MinReplicasAck: 1, WaitTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tk3, err := short.TakeTicket(ctx, "app", lease, 0)
	if err != nil || tk3.Acked {
		t.Fatalf("TakeTicket without replica: %+v, %v; want a ticket, not acked", tk3, err)
	}
	v, err = short.WriteToken(ctx, Write{App: "app", Ticket: tk3, Token: "tok-2", ExpiresIn: time.Hour})
	if err != nil || v.Version != 2 || v.Acked {
		t.Fatalf("WriteToken without replica = %+v, %v; want version 2, not acked", v, err)
	}
	if got, _ := mc.Get(ctx, st.Keys().Token("app")).Result(); got != "tok-2" {
		t.Fatalf("master holds %q: an unacknowledged write must still be applied", got)
	}
	if _, err := short.TakeTicket(ctx, "app", "not-the-lease", 0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("TakeTicket with a wrong lease: %v, want ErrNotLeader", err)
	}
}
