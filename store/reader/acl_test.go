package reader

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/store"
)

// TestReader_deployACL: the Reader works as the tokend-lib user of
// deploy/redis-users.acl (reads, reports, the pending-report check).
func TestReader_deployACL(t *testing.T) {
	srv := redisserver.StartACL(t, "../../deploy/redis-users.acl")
	user := srv.User
	ctx := context.Background()
	rdb := user("tokend", "change-me-tokend")
	s := newStore(t, rdb)
	holdLease(t, s, rdb)
	tk, err := s.TakeTicket(ctx, "app", lease, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := write(t, s, "app", "tok-1", tk, time.Hour); err != nil {
		t.Fatal(err)
	}

	r := newReader(t, user("tokend-lib", "change-me-lib"), Config{})
	tok := mustToken(t, r, "app")
	go func() {
		for range 100 { // the leader answers once the report is there
			if got, _ := s.PendingReport(ctx, "app"); got == tok.Value {
				tk, _ := s.TakeTicket(ctx, "app", lease, 10)
				_, _ = s.WriteToken(ctx, store.Write{App: "app", Ticket: tk, Token: "tok-2", ExpiresIn: time.Hour})
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if got, err := r.ReportAndWait(wctx, "app", tok.Value); err != nil || got.Value != "tok-2" {
		t.Fatalf("ReportAndWait as tokend-lib: %v, %v", got, err)
	}
}

// TestToken_Fingerprint: one definition, store.Fingerprint's.
func TestToken_Fingerprint(t *testing.T) {
	for _, v := range []string{"", "a", "secret-token-value"} {
		if got, want := (Token{Value: v}).Fingerprint(), store.Fingerprint(v); got != want {
			t.Fatalf("Token{%q}.Fingerprint = %q, store.Fingerprint = %q", v, got, want)
		}
	}
}

// TestClient_universal: every go-redis client kind is a Client.
func TestClient_universal(t *testing.T) {
	var _ Client = redis.UniversalClient(nil)
	var _ Client = (*redis.ClusterClient)(nil)
}
