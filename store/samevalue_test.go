package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// sameWrite writes tok for app with a fresh ticket under rule.
func sameWrite(t *testing.T, s *Store, app, tok string, in, margin time.Duration, rule SameValue) (WriteResult, Ticket, error) {
	t.Helper()
	tk, err := s.TakeTicket(context.Background(), app, lease, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.WriteToken(context.Background(), Write{App: app, Ticket: tk, Token: tok, ExpiresIn: in, SafetyMargin: margin, SameValue: rule})
	return res, tk, err
}

// TestStore_WriteToken_sameValue: the same-value rules (DESIGN "Credential
// kinds"): a repeat of the stored value keeps the first-seen expiry
// (tickets), the later one (trusted expires_in), or takes the new one.
func TestStore_WriteToken_sameValue(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		holdLease(t, s, rdb)
		for _, tc := range []struct {
			name    string
			rule    SameValue
			in      time.Duration // the repeat's answered lifetime (the first is 1h)
			keptExp bool          // the first expiry is kept
		}{
			{"as new: the answer", SameValueAsNew, 30 * time.Minute, false},
			{"keep stored, longer answer: first-seen", SameValueKeepStored, 3 * time.Hour, true},
			{"keep stored, shorter answer: first-seen", SameValueKeepStored, 30 * time.Minute, true},
			{"keep later, longer answer: extended", SameValueKeepLater, 3 * time.Hour, false},
			{"keep later, shorter answer: kept", SameValueKeepLater, 30 * time.Minute, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				app := "app" + string(rune('a'+int(tc.rule))) + tc.in.String()
				first, tk1, err := sameWrite(t, s, app, "v", time.Hour, 0, tc.rule)
				if err != nil || !first.Changed || first.Version != 1 {
					t.Fatalf("first write %+v %v", first, err)
				}
				if !first.ExpiresAt.Equal(tk1.IssuedAt.Add(time.Hour)) || !first.FetchedAt.Equal(tk1.IssuedAt) {
					t.Fatalf("first write: expires %s fetched %s, want issued+1h, issued", first.ExpiresAt, first.FetchedAt)
				}
				res, tk2, err := sameWrite(t, s, app, "v", tc.in, 0, tc.rule)
				if err != nil || res.Changed {
					t.Fatalf("repeat %+v %v, want unchanged", res, err)
				}
				// A kept expiry keeps its first-seen fetched_at; an extended
				// life is renewed from this fetch (else the planned lifetime
				// would grow with every repeat and the due times race).
				want, wantFetched := tk2.IssuedAt.Add(tc.in), tk2.IssuedAt
				if tc.keptExp {
					want, wantFetched = first.ExpiresAt, first.FetchedAt
				}
				if !res.ExpiresAt.Equal(want) || !res.FetchedAt.Equal(wantFetched) {
					t.Fatalf("expires %s fetched %s, want %s %s", res.ExpiresAt, res.FetchedAt, want, wantFetched)
				}
				rec, err := s.Record(context.Background(), app)
				if err != nil || !rec.ExpiresAt.Equal(want) || rec.Ticket != tk2.N || !rec.FetchedAt.Equal(wantFetched) {
					t.Fatalf("record %+v %v: want expiry %s, ticket %d", rec, err, want, tk2.N)
				}
				// Nothing readers see changed: no new version.
				if wantV := map[bool]int64{true: 1, false: 2}[tc.keptExp && tc.rule != SameValueAsNew]; res.Version != wantV || rec.Version != wantV {
					t.Fatalf("version %d (record %d), want %d", res.Version, rec.Version, wantV)
				}
				if pttl := rdb.PTTL(context.Background(), s.Keys().Token(app)).Val(); pttl > time.Until(want)+time.Second {
					t.Fatalf("token key PTTL %s outlives the expiry %s", pttl, want)
				}
				// Another value is a new value under every rule.
				other, tk3, err := sameWrite(t, s, app, "w", 2*time.Hour, 0, tc.rule)
				if err != nil || !other.Changed || !other.ExpiresAt.Equal(tk3.IssuedAt.Add(2*time.Hour)) {
					t.Fatalf("new value %+v %v", other, err)
				}
			})
		}
	})
}

// TestStore_WriteToken_notRolledOver: the stored value answered again once
// its kept expiry (minus the margin) has passed is not written; the token
// key, once expired, keeps the value's expiry in meta for the next write.
func TestStore_WriteToken_notRolledOver(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, rdb *redis.Client) {
		ctx := context.Background()
		holdLease(t, s, rdb)
		first, _, err := sameWrite(t, s, "app", "v", time.Hour, 0, SameValueKeepStored)
		if err != nil {
			t.Fatal(err)
		}
		before := rdb.HGetAll(ctx, s.Keys().Meta("app")).Val()
		// A margin of 2h puts the kept expiry in the past, without waiting.
		for _, rule := range []SameValue{SameValueKeepStored, SameValueKeepLater} {
			res, _, err := sameWrite(t, s, "app", "v", 30*time.Minute, 2*time.Hour, rule)
			if !errors.Is(err, ErrNotRolledOver) || !res.ExpiresAt.Equal(first.ExpiresAt) {
				t.Fatalf("rule %d: %+v %v, want ErrNotRolledOver with the kept expiry", rule, res, err)
			}
		}
		if after := rdb.HGetAll(ctx, s.Keys().Meta("app")).Val(); after["ticket"] != before["ticket"] || after["version"] != before["version"] {
			t.Fatalf("a refused repeat wrote: %v -> %v", before, after)
		}
		// A new value past the margin is ErrExpired, as before.
		if _, _, err := sameWrite(t, s, "app", "w", time.Hour, 2*time.Hour, SameValueKeepStored); !errors.Is(err, ErrExpired) {
			t.Fatalf("new value past its margin: %v, want ErrExpired", err)
		}
		// The token key expired (DEL stands for it): the same value is
		// written again with its first-seen expiry and a new version.
		rdb.Del(ctx, s.Keys().Token("app"))
		res, _, err := sameWrite(t, s, "app", "v", 3*time.Hour, 0, SameValueKeepStored)
		if err != nil || res.Changed || !res.ExpiresAt.Equal(first.ExpiresAt) || res.Version != 2 {
			t.Fatalf("rewrite after the key expired: %+v %v", res, err)
		}
		if got := rdb.Get(ctx, s.Keys().Token("app")).Val(); got != "v" {
			t.Fatalf("token key %q", got)
		}
	})
}

// TestStore_WriteToken_unknownRule: an out-of-range rule is refused
// before any I/O.
func TestStore_WriteToken_unknownRule(t *testing.T) {
	s, _ := backends()[0].open(t)
	for _, rule := range []SameValue{-1, 3} {
		w := Write{App: "a", Ticket: Ticket{N: 1, IssuedAt: time.Now()}, Token: "x", ExpiresIn: time.Hour, SameValue: rule}
		if _, err := s.WriteToken(context.Background(), w); err == nil {
			t.Fatalf("rule %d accepted", rule)
		}
	}
}
