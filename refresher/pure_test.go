package refresher

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

func TestDueIn(t *testing.T) {
	r := &Refresher{cfg: Config{BeforeExpiry: 10 * time.Minute}}
	for _, tc := range []struct {
		remaining, lifetime, lo, hi time.Duration
	}{
		{2 * time.Hour, 2 * time.Hour, 110*time.Minute - 6*time.Minute, 110 * time.Minute}, // jittered by <= 5% of life
		{10 * time.Minute, 2 * time.Hour, -6 * time.Minute, 0},                             // at before_expiry: due now
		{4 * time.Second, 4 * time.Second, 2 * time.Second, 2 * time.Second},               // short life: half-life rule
		{0, 2 * time.Hour, -16 * time.Minute, -10 * time.Minute},                           // overdue
	} {
		for range 50 {
			got := r.dueIn(tc.remaining, tc.lifetime)
			if got < tc.lo || got > tc.hi {
				t.Fatalf("dueIn(%s, %s) = %s, want [%s, %s]", tc.remaining, tc.lifetime, got, tc.lo, tc.hi)
			}
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempts, want := range map[int]time.Duration{0: time.Second, 1: 2 * time.Second, 5: 32 * time.Second, 6: time.Minute, 100: time.Minute} {
		for range 20 {
			got := backoff(time.Second, time.Minute, attempts)
			if got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", attempts, got, want/2, want)
			}
		}
	}
}

func TestUntilQuotaDay(t *testing.T) {
	// 15:59 UTC is 23:59 in UTC+8: the quota day turns in a minute.
	now := time.Date(2026, 11, 25, 15, 59, 0, 0, time.UTC)
	if got := untilQuotaDay(now); got != 2*time.Minute {
		t.Fatalf("untilQuotaDay = %s, want 2m (1m to midnight UTC+8 plus 1m)", got)
	}
	now = time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC) // 00:00 UTC+8
	if got := untilQuotaDay(now); got != 24*time.Hour+time.Minute {
		t.Fatalf("untilQuotaDay = %s", got)
	}
}

func TestFingerprintAndTokenString(t *testing.T) {
	tok := upstream.Token{Value: "secret-token-value", ExpiresIn: time.Hour}
	if s := tok.String(); s == "" || contains(s, "secret-token-value") {
		t.Fatalf("Token.String leaks: %q", s)
	}
	if Fingerprint("") != store.Fingerprint("") || Fingerprint("x") != store.Fingerprint("x") || Fingerprint("a") == Fingerprint("b") {
		t.Fatal("fingerprint")
	}
	if upstream.ClassOf(errors.New("x")) != upstream.ClassRetry || upstream.ClassOf(fmt.Errorf("w: %w", &upstream.Error{Class: upstream.ClassQuota})) != upstream.ClassQuota {
		t.Fatal("upstream.ClassOf")
	}
	for _, c := range []upstream.Class{upstream.ClassRetry, upstream.ClassConfig, upstream.ClassQuota, upstream.Class(9)} {
		if c.String() == "" {
			t.Fatal("empty class name")
		}
	}
	for _, e := range []*upstream.Error{{Code: 1, Message: "m"}, {HTTPStatus: 500, Message: "m"}, {Message: "m"}} {
		if e.Error() == "" {
			t.Fatal("empty error")
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (s == sub || len(s) > 0 && (s[:len(sub)] == sub || contains(s[1:], sub)))
}

func TestSchedule(t *testing.T) {
	s := newSchedule()
	t0 := time.Unix(1000, 0)
	s.set("a", t0.Add(3*time.Second))
	s.set("b", t0.Add(time.Second))
	s.set("c", t0.Add(2*time.Second))
	s.set("b", t0.Add(5*time.Second)) // rescheduled: the old entry is stale
	if _, ok := s.popDue(t0); ok {
		t.Fatal("nothing is due at t0")
	}
	if e, _ := s.peek(); e.app != "c" {
		t.Fatalf("earliest = %s, want c (b's old entry is stale)", e.app)
	}
	var got []string
	for {
		app, ok := s.popDue(t0.Add(5 * time.Second))
		if !ok {
			break
		}
		got = append(got, app)
	}
	if fmt.Sprint(got) != "[c a b]" {
		t.Fatalf("order %v, want [c a b]", got)
	}
	s.set("d", t0)
	s.remove("d")
	if _, ok := s.peek(); ok {
		t.Fatal("removed app still scheduled")
	}
}
