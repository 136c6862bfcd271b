package ledger

import (
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) // 20:00 in UTC+8

func newBooks(mod func(*Config)) (*Ledger, *testclock.FakeClock) {
	clk := testclock.NewFakeClock(t0)
	cfg := Config{
		Lifetime: 100 * time.Second, Overlap: 10 * time.Second, DailyQuota: 3, MinuteQuota: 2,
		ForceDailyLimit: 2, ForceInterval: 30 * time.Second, ClearQuotaMonthly: 1,
		TicketLifetime: 100 * time.Second, Location: time.FixedZone("UTC+8", 8*3600), Clock: clk,
	}
	if mod != nil {
		mod(&cfg)
	}
	return New(cfg), clk
}

// A token's state at each edge: live until its retirement or expiry,
// exclusive, then 40001 or 42001.
func TestLedger_Check_edges(t *testing.T) {
	l, _ := newBooks(nil)
	a := NewAccount("wx1", "s")
	old, _ := l.Classic(t0, a)
	cur, _ := l.Classic(t0.Add(5*time.Second), a) // old retires at 15 s
	for _, tc := range []struct {
		name string
		tok  string
		at   time.Duration
		want int
	}{
		{"superseded, inside overlap", old, 14*time.Second + 999*time.Millisecond, CodeOK},
		{"superseded, overlap over", old, 15 * time.Second, CodeNotLatest},
		{"latest, just before expiry", cur, 104*time.Second + 999*time.Millisecond, CodeOK},
		{"latest, at expiry", cur, 105 * time.Second, CodeExpired},
		{"never issued", "bogus", 0, CodeIllegal},
		{"empty", "", 0, CodeMissing},
	} {
		if got := l.Check(t0.Add(tc.at), tc.tok); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// Hold keeps the token while more than RenewWithin is left (with
// Inclusive, also exactly RenewWithin: renewed only below it).
func TestLedger_Hold_window(t *testing.T) {
	for _, tc := range []struct {
		name      string
		inclusive bool
		left      time.Duration
		same      bool
	}{
		{"above window", false, 21 * time.Second, true},
		{"exactly window, exclusive", false, 20 * time.Second, true},
		{"exactly window, inclusive", true, 20 * time.Second, false},
		{"inside window", false, 19 * time.Second, false},
	} {
		l, _ := newBooks(nil)
		var cur string
		p := HoldPolicy{RenewWithin: 20 * time.Second, Inclusive: tc.inclusive}
		first, _ := l.Hold(t0, &cur, PlatformFeishu, "k", FamilyToken, p)
		got, _ := l.Hold(t0.Add(100*time.Second-tc.left), &cur, PlatformFeishu, "k", FamilyToken, p)
		if (got == first) != tc.same {
			t.Errorf("%s: same token %v, want %v", tc.name, got == first, tc.same)
		}
	}
}

// Quotas: the minute limit (45011) resets at the next clock minute, the
// daily one (45009) at midnight in Location; a refused call is not counted.
func TestLedger_TakeQuota_resets(t *testing.T) {
	l, _ := newBooks(nil)
	a := NewAccount("wx1", "s")
	steps := []struct {
		at   time.Duration
		want int
	}{
		{0, 0}, {time.Second, 0}, {2 * time.Second, CodeMinute}, // 2 a minute
		{60 * time.Second, 0}, {61 * time.Second, CodeDailyQuota}, // 3 a day
		{4 * time.Hour, 0}, // 00:00 in UTC+8: a new day
	}
	for i, st := range steps {
		if got := l.TakeQuota(t0.Add(st.at), a, FamilyToken); got != st.want {
			t.Errorf("step %d at %s: %d, want %d", i, st.at, got, st.want)
		}
	}
}

// Force refresh: inside the interval the current token comes back (or
// the configured errcode); the daily limit answers 45009.
func TestLedger_Force_limits(t *testing.T) {
	l, _ := newBooks(nil)
	a := NewAccount("wx1", "s")
	t1, _, code := l.Force(t0, a)
	if code != 0 {
		t.Fatalf("first force: %d", code)
	}
	if t2, _, _ := l.Force(t0.Add(29*time.Second), a); t2 != t1 {
		t.Error("inside the interval: rotated")
	}
	t3, _, _ := l.Force(t0.Add(30*time.Second), a)
	if t3 == t1 || l.Check(t0.Add(30*time.Second), t1) != CodeNotLatest {
		t.Error("after the interval: not rotated, or the old token lives")
	}
	if _, _, code := l.Force(t0.Add(60*time.Second), a); code != CodeDailyQuota {
		t.Errorf("third force of the day: %d, want 45009", code)
	}
	l2, _ := newBooks(func(c *Config) { c.ForceTooSoonErrcode = 45011 })
	b := NewAccount("wx2", "s")
	l2.Force(t0, b)
	if _, _, code := l2.Force(t0.Add(time.Second), b); code != 45011 {
		t.Errorf("too soon with an errcode: %d", code)
	}
}
