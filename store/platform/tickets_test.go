package platform

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store"
)

// TestStore_authorizerTicket_writtenWhileAuthorized: an authorizer's
// ticket is written (fenced, its own version) while the authorizer is
// stored, read raw under {tokend}:token:<component>/<appid>:<kind>, and
// never after it was removed; bad ids are refused before any write.
func TestStore_authorizerTicket_writtenWhileAuthorized(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		if err := s.PutAuthorizers(ctx, "op", Authorizer{AppID: "wxa", RefreshToken: "rt"}); err != nil {
			t.Fatal(err)
		}
		id := AuthorizerTicketID("op", "wxa", "jsapi")
		write := func(val string) error {
			tk, err := s.TakeTicket(ctx, id, lease, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.WriteAuthorizerTicket(ctx, store.Write{App: id, Ticket: tk, Token: val, ExpiresIn: time.Hour, SameValue: store.SameValueKeepStored})
			return err
		}
		if err := write("ticket-1"); err != nil {
			t.Fatal(err)
		}
		if got := rdb.Get(ctx, "{tokend}:token:op/wxa:jsapi").Val(); got != "ticket-1" {
			t.Fatalf("raw GET = %q", got)
		}
		if _, err := s.RemoveAuthorizer(ctx, "op", "wxa", []string{"jsapi"}); err != nil {
			t.Fatal(err)
		}
		if err := write("ticket-2"); !errors.Is(err, ErrAuthorizerGone) {
			t.Fatalf("write after removal: %v, want ErrAuthorizerGone", err)
		}
		if n := rdb.Exists(ctx, "{tokend}:token:op/wxa:jsapi", "{tokend}:meta:op/wxa:jsapi").Val(); n != 0 {
			t.Fatalf("%d ticket keys after removal", n)
		}
		for _, bad := range []string{"op/wxa", "op", "op:jsapi", "op/wx a:jsapi"} {
			if _, err := s.WriteAuthorizerTicket(ctx, store.Write{App: bad, Ticket: store.Ticket{N: 1}, Token: "x"}); !errors.Is(err, store.ErrInvalidApp) {
				t.Errorf("%q: %v, want ErrInvalidApp", bad, err)
			}
		}
	})
}
