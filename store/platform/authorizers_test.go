package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/store"
)

// authWrite takes a ticket and writes tok for id with refresh token rt.
func authWrite(t *testing.T, s *Store, id, tok, rt string) (store.WriteResult, error) {
	t.Helper()
	ctx := context.Background()
	tk, err := s.TakeTicket(ctx, id, lease, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s.WriteAuthorizerToken(ctx, store.Write{App: id, Ticket: tk, Token: tok, ExpiresIn: time.Hour}, rt)
}

func refreshTokenOf(t *testing.T, s *Store, comp, appid string) string {
	t.Helper()
	a, err := s.Authorizer(context.Background(), comp, appid)
	if err != nil {
		t.Fatalf("Authorizer(%s): %v", appid, err)
	}
	return a.RefreshToken
}

// TestStore_authorizerWrite_refreshTokenWithToken: the token and a new
// refresh token land together; other fields stay; a stale write changes
// neither; a removed authorizer is never written back.
func TestStore_authorizerWrite_refreshTokenWithToken(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		fi := json.RawMessage(`[{"funcscope_category":{"id":1}}]`)
		at := time.Unix(1_700_000_000, 0)
		if err := s.PutAuthorizers(ctx, "op", Authorizer{AppID: "wxa", RefreshToken: "rt1", AuthTime: at, FuncInfo: fi}); err != nil {
			t.Fatal(err)
		}
		if _, err := authWrite(t, s, "op/wxa", "tok1", "rt2"); err != nil {
			t.Fatal(err)
		}
		a, err := s.Authorizer(ctx, "op", "wxa")
		if err != nil || a.RefreshToken != "rt2" || !a.AuthTime.Equal(at) || !strings.Contains(string(a.FuncInfo), "funcscope_category") {
			t.Fatalf("after the write: %v %v %s, %v", a, a.AuthTime, a.FuncInfo, err)
		}
		if rec, _ := s.Record(ctx, "op/wxa"); rec.Token != "tok1" {
			t.Fatalf("token = %v", rec)
		}
		// A stale ticket: neither the token nor the refresh token moves.
		stale, _ := s.TakeTicket(ctx, "op/wxa", lease, 0)
		if _, err := authWrite(t, s, "op/wxa", "tok2", "rt3"); err != nil {
			t.Fatal(err)
		}
		_, err = s.WriteAuthorizerToken(ctx, store.Write{App: "op/wxa", Ticket: stale, Token: "old", ExpiresIn: time.Hour}, "rt-old")
		if !errors.Is(err, store.ErrStaleTicket) || refreshTokenOf(t, s, "op", "wxa") != "rt3" {
			t.Fatalf("stale write: %v, refresh token %s", err, refreshTokenOf(t, s, "op", "wxa"))
		}
		// Removed: the write in flight is refused and nothing comes back.
		if removed, err := s.RemoveAuthorizer(ctx, "op", "wxa", []string{"jsapi"}); err != nil || !removed {
			t.Fatalf("remove = %v, %v", removed, err)
		}
		if _, err := authWrite(t, s, "op/wxa", "tok4", "rt4"); !errors.Is(err, ErrAuthorizerGone) {
			t.Fatalf("write after removal = %v, want ErrAuthorizerGone", err)
		}
		for _, k := range []string{s.Keys().Token("op/wxa"), s.Keys().Meta("op/wxa"), AuthorizersKey(s.Keys(), "op")} {
			if rdb.Exists(ctx, k).Val() != 0 {
				t.Errorf("%s left after removal", k)
			}
		}
	})
}

// TestStore_scanAuthorizers_pagesAndGarbage: every entry comes once per
// page walk; garbage is skipped and reported, never handed out.
func TestStore_scanAuthorizers_pagesAndGarbage(t *testing.T) {
	forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog) {
		ctx := context.Background()
		var list []Authorizer
		for i := range 1200 {
			list = append(list, Authorizer{AppID: fmt.Sprintf("wx%04d", i), RefreshToken: fmt.Sprintf("rt%d", i)})
		}
		if err := s.PutAuthorizers(ctx, "op", list...); err != nil {
			t.Fatal(err)
		}
		key := AuthorizersKey(s.Keys(), "op")
		rdb.HSet(ctx, key, "wxbad", "{not json", "wxnort", `{"auth_time":1}`, "bad field", `{"refresh_token":"x"}`)
		seen := map[string]string{}
		pages := 0
		n, skipped, err := s.ScanAuthorizers(ctx, "op", 200, func(page []Authorizer) error {
			pages++
			for _, a := range page {
				seen[a.AppID] = a.RefreshToken
			}
			return nil
		})
		if err != nil || n < 1200 || skipped < 3 || len(seen) != 1200 || pages < 1 { // miniredis answers HSCAN in one page
			t.Fatalf("scan: n=%d skipped=%d err=%v seen=%d pages=%d", n, skipped, err, len(seen), pages)
		}
		if seen["wx0042"] != "rt42" {
			t.Errorf("wx0042 = %q", seen["wx0042"])
		}
		if !log.has(key, "wxbad", false) || !log.has(key, "wxnort", false) {
			t.Errorf("garbage not reported: %v", log.take())
		}
		rdb.Del(ctx, key)
		if n, _, err := s.ScanAuthorizers(ctx, "op", 0, func([]Authorizer) error { t.Fatal("called"); return nil }); n != 0 || err != nil {
			t.Errorf("missing hash: %d, %v", n, err)
		}
		rdb.Set(ctx, key, "x", 0)
		if _, _, err := s.ScanAuthorizers(ctx, "op", 0, func([]Authorizer) error { return nil }); !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("wrong type: %v, want store.ErrCorrupt", err)
		}
	})
}

// TestStore_authorizer_badInputAndSecrets: bad input is refused with
// nothing written, and no String or error shows a refresh token.
func TestStore_authorizer_badInputAndSecrets(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		for _, a := range []Authorizer{{AppID: "", RefreshToken: "r"}, {AppID: "wx/a", RefreshToken: "r"}, {AppID: "wxa"},
			{AppID: "wxa", RefreshToken: "r", FuncInfo: json.RawMessage("{")}} {
			if err := s.PutAuthorizers(ctx, "op", a); !errors.Is(err, ErrBadAuthorizer) {
				t.Errorf("PutAuthorizers(%v) = %v", a, err)
			}
		}
		if err := s.PutAuthorizers(ctx, "op/x", Authorizer{AppID: "wxa", RefreshToken: "r"}); !errors.Is(err, store.ErrInvalidApp) {
			t.Errorf("bad component: %v", err)
		}
		if _, err := s.WriteAuthorizerToken(ctx, store.Write{App: "op", Token: "t", Ticket: store.Ticket{N: 1}}, "r"); !errors.Is(err, store.ErrInvalidApp) {
			t.Errorf("non-authorizer id: %v", err)
		}
		if n := rdb.DBSize(ctx).Val(); n != 0 {
			t.Errorf("%d keys after refused calls", n)
		}
		a := Authorizer{AppID: "wxa", RefreshToken: "secret-refresh"}
		for _, s := range []string{a.String(), fmt.Sprintf("%v %+v %#v", a, a, a)} {
			if strings.Contains(s, "secret-refresh") {
				t.Errorf("refresh token shown: %s", s)
			}
		}
	})
}
