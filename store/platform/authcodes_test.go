package platform

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const testCode = "queryauthcode@@@secretcode"

// TestStore_exchangedCode_claimRememberRelease: a claim is Pending and
// excludes a second claim; only its own value releases it; a remembered
// code is Done once its authorizer is stored, for AuthCodeLifetime, and
// no later claim or stale release touches it. The code is in no key.
func TestStore_exchangedCode_claimRememberRelease(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		read := func() ExchangedCode {
			t.Helper()
			x, err := s.ExchangedCode(ctx, "op", testCode)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
		if x := read(); x.Done || x.Pending {
			t.Fatalf("nothing stored: %+v", x)
		}
		claim, err := s.ClaimCode(ctx, "op", testCode, time.Minute)
		if err != nil || claim == "" {
			t.Fatalf("claim %q, %v", claim, err)
		}
		if again, err := s.ClaimCode(ctx, "op", testCode, time.Minute); again != "" || err != nil {
			t.Fatalf("second claim %q, %v", again, err)
		}
		if err := s.ReleaseCode(ctx, "op", testCode, claimPrefix+"someoneelse"); err != nil || !read().Pending {
			t.Fatalf("another's release dropped the claim: %v", err)
		}
		if err := s.ReleaseCode(ctx, "op", testCode, claim); err != nil || read().Pending {
			t.Fatalf("release: %v, %+v", err, read())
		}
		claim, _ = s.ClaimCode(ctx, "op", testCode, time.Minute)
		if err := s.RememberCode(ctx, "op", testCode, "wxa"); err != nil {
			t.Fatal(err)
		}
		if x := read(); x.Done || x.Pending {
			t.Fatalf("remembered, authorizer not stored: %+v", x)
		}
		if err := s.PutAuthorizers(ctx, "op", Authorizer{AppID: "wxa", RefreshToken: "rt"}); err != nil {
			t.Fatal(err)
		}
		if x := read(); !x.Done || x.Authorizer.AppID != "wxa" || x.Authorizer.RefreshToken != "rt" {
			t.Fatalf("remembered: %+v", x)
		}
		if c, _ := s.ClaimCode(ctx, "op", testCode, time.Minute); c != "" {
			t.Fatal("claimed a remembered code")
		}
		if err := s.ReleaseCode(ctx, "op", testCode, claim); err != nil || !read().Done {
			t.Fatalf("a stale release dropped the remembered code: %v", err)
		}
		key := AuthCodeKey(s.Keys(), "op", testCode)
		if ttl := rdb.TTL(ctx, key).Val(); ttl <= AuthCodeLifetime-time.Minute || ttl > AuthCodeLifetime {
			t.Fatalf("ttl %s", ttl)
		}
		for _, k := range rdb.Keys(ctx, "*").Val() {
			if strings.Contains(k, testCode) {
				t.Fatalf("the code is in key %q", k)
			}
		}
	})
}

// TestStore_exchangedCode_garbage: a wrong type, a value that is not an
// appid and an unparsable authorizer entry are neither Done nor Pending,
// and reported.
func TestStore_exchangedCode_garbage(t *testing.T) {
	forEachCorrupt(t, func(t *testing.T, s *Store, rdb *redis.Client, log *corruptLog) {
		ctx := context.Background()
		key := AuthCodeKey(s.Keys(), "op", testCode)
		hash := AuthorizersKey(s.Keys(), "op")
		for _, tc := range []struct {
			name       string
			put        func()
			key, field string
		}{
			{"wrong type", func() { rdb.HSet(ctx, key, "f", "v") }, key, ""},
			{"not an appid", func() { rdb.Set(ctx, key, "no appid!", 0) }, key, ""},
			{"garbage entry", func() { rdb.Set(ctx, key, "wxg", 0); rdb.HSet(ctx, hash, "wxg", "{") }, hash, "wxg"},
		} {
			rdb.Del(ctx, key)
			tc.put()
			seen := [3]string{tc.key, tc.field, "false"}
			before := log.take()[seen]
			x, err := s.ExchangedCode(ctx, "op", testCode)
			if err != nil || x.Done || x.Pending {
				t.Errorf("%s: %+v, %v", tc.name, x, err)
			}
			if log.take()[seen] <= before {
				t.Errorf("%s: not reported: %v", tc.name, log.take())
			}
		}
	})
}
