package ha

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/store"
	storefleet "github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/reader"
)

// Example passwords of deploy/redis-users.acl.
var aclPasswords = map[string]string{
	"default": "change-me-health", "tokend": "change-me-tokend",
	"tokend-app": "change-me-app", "tokend-lib": "change-me-lib",
}

func aclClient(t *testing.T, srv *redisserver.Proc, user string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: user, Password: aclPasswords[user],
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func wantNoPerm(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), "NOPERM") && !strings.Contains(err.Error(), "can't run this command") {
		t.Errorf("%s: got %v, want a NOPERM refusal", what, err)
	}
}

// TestACL_deployFile loads deploy/redis-users.acl into a real redis-server
// and runs tokend's operations (lock + store, WAIT included), the raw-Redis
// business app's and the reader library's as their users; commands outside
// each user's list are refused.
func TestACL_deployFile(t *testing.T) {
	t.Parallel()
	aclFile, err := filepath.Abs("../../deploy/redis-users.acl")
	if err != nil {
		t.Fatal(err)
	}
	srv := redisserver.StartConf(t, "aclfile "+aclFile)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("tokend", func(t *testing.T) {
		rdb := aclClient(t, srv, "tokend")
		st, err := store.New(store.Config{Client: rdb, MinReplicasAck: 1, WaitTimeout: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		keys := st.Keys()
		el, err := lock.New(lock.Config{Client: rdb, Key: keys.Lease(), EpochKey: keys.Epoch(), Channel: keys.Events(),
			ID: "acl", LeaseTTL: 3 * time.Second, RenewInterval: 500 * time.Millisecond, RenewDeadline: 2 * time.Second,
			RetryInterval: 100 * time.Millisecond, OpTimeout: 250 * time.Millisecond, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		led := make(chan error, 1)
		go func() {
			_ = el.Run(rctx, func(lctx context.Context, term lock.Term) {
				led <- tokendOps(lctx, st, term)
				stop() // step down: release and announce
			})
		}()
		select {
		case err := <-led:
			if err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("never led")
		}
		<-rctx.Done()
		wait.For(t, 2*time.Second, "the lease released", func() bool {
			return rdb.Exists(ctx, keys.Lease()).Val() == 0
		})
		wantNoPerm(t, "FLUSHALL", rdb.FlushAll(ctx).Err())
		wantNoPerm(t, "KEYS", rdb.Keys(ctx, "*").Err())
		wantNoPerm(t, "CONFIG GET", rdb.ConfigGet(ctx, "*").Err())
		wantNoPerm(t, "GET outside the prefix", rdb.Get(ctx, "other:key").Err())
		wantNoPerm(t, "a script touching a foreign key", rdb.Eval(ctx, "return redis.call('GET', KEYS[1])", []string{"other:key"}).Err())
	})

	t.Run("tokend-app", func(t *testing.T) {
		rdb := aclClient(t, srv, "tokend-app")
		st, _ := store.New(store.Config{Client: rdb})
		tok, err := rdb.Get(ctx, st.Keys().Token(app)).Result()
		if err != nil || tok == "" {
			t.Fatalf("GET token: %q, %v", tok, err)
		}
		if err := st.Report(ctx, app, tok); err != nil {
			t.Fatalf("report recipe: %v", err)
		}
		wantNoPerm(t, "SET token", rdb.Set(ctx, st.Keys().Token(app), "forged", 0).Err())
		wantNoPerm(t, "HGETALL meta", rdb.HGetAll(ctx, st.Keys().Meta(app)).Err())
		wantNoPerm(t, "GET lease", rdb.Get(ctx, st.Keys().Lease()).Err())
	})

	t.Run("tokend-lib", func(t *testing.T) {
		rdb := aclClient(t, srv, "tokend-lib")
		r, err := reader.New(rdb, reader.Config{Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		tok, err := r.Token(ctx, app)
		if err != nil {
			t.Fatalf("Reader.Token: %v", err)
		}
		if err := r.ReportInvalid(ctx, app, tok.Value); err != nil {
			t.Fatalf("ReportInvalid: %v", err)
		}
		st, _ := store.New(store.Config{Client: rdb})
		wantNoPerm(t, "SET token", rdb.Set(ctx, st.Keys().Token(app), "forged", 0).Err())
		wantNoPerm(t, "HSET meta", rdb.HSet(ctx, st.Keys().Meta(app), "token", "forged").Err())
		wantNoPerm(t, "a script writing the token",
			rdb.Eval(ctx, "return redis.call('SET', KEYS[1], 'forged')", []string{st.Keys().Token(app)}).Err())
	})

	t.Run("default", func(t *testing.T) {
		rdb := aclClient(t, srv, "default")
		if err := rdb.Ping(ctx).Err(); err != nil {
			t.Fatalf("PING: %v", err)
		}
		wantNoPerm(t, "GET", rdb.Get(ctx, "{tokend}:token:"+app).Err())
	})
}

// tokendOps is everything store does for the daemon, under the lease.
func tokendOps(ctx context.Context, st *store.Store, term lock.Term) error {
	sub := st.Subscribe(ctx)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		return err
	}
	tk, err := st.TakeTicket(ctx, app, term.Value, 10)
	if err != nil { // no replica here: WAIT answers 0, Acked is false
		return err
	}
	if _, err := st.WriteToken(ctx, store.Write{App: app, Ticket: tk, Token: "tok-acl", ExpiresIn: time.Hour,
		Epoch: term.Epoch, Leader: term.ID}); err != nil {
		return err
	}
	if _, err := st.Record(ctx, app); err != nil {
		return err
	}
	if err := st.Report(ctx, app, "tok-acl"); err != nil {
		return err
	}
	if _, err := st.PendingReports(ctx); err != nil {
		return err
	}
	if _, err := st.ClearReport(ctx, app, "tok-acl"); err != nil {
		return err
	}
	if err := st.SetStatus(ctx, app, store.Status{LastError: "x", UpdatedAt: time.Now()}); err != nil {
		return err
	}
	if _, err := st.Status(ctx, app); err != nil {
		return err
	}
	if _, err := storefleet.New(st).Leader(ctx); err != nil {
		return err
	}
	return st.Ping(ctx)
}
