package harness

import (
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

func TestChecker_judge(t *testing.T) {
	const appid, other = "wx00000000000judge", "wx00000000000other"
	clk := testclock.NewFakeClock(time.Unix(1_800_000_000, 0))
	srv := wechattest.New(wechattest.Config{Lifetime: 10 * time.Second, Clock: clk})
	srv.AddApp(appid, "s")
	srv.AddApp(other, "s")
	tick := srv.RotateTicket(appid, wechattest.KindJSAPI)
	otherTick := srv.RotateTicket(other, wechattest.KindJSAPI)
	card := srv.RotateTicket(appid, wechattest.KindWxCard)
	tok := srv.Rotate(appid)
	c := &Checker{cfg: CheckerConfig{Server: srv, Check: CheckTicket, Owner: appid, Kind: wechattest.KindJSAPI}}
	tc := &Checker{cfg: CheckerConfig{Server: srv, Check: CheckToken, Owner: appid, Kind: "token"}}
	read := clk.Now()

	for _, tt := range []struct {
		name  string
		c     *Checker
		v     string
		start time.Time
		want  int
	}{
		{"live ticket", c, tick, read, 0},
		{"another app's ticket", c, otherTick, read, wechattest.CodeIllegal},
		{"another kind", c, card, read, wechattest.CodeIllegal},
		{"a token is no ticket", c, tok, read, wechattest.CodeIllegal},
		{"garbage", c, "garbage", read, wechattest.CodeIllegal},
		{"live token", tc, tok, read, 0},
		{"a ticket is no token", tc, tick, read, wechattest.CodeIllegal},
	} {
		if got := tt.c.judge(tt.v, tt.start); got != tt.want {
			t.Errorf("%s: judge = %d, want %d", tt.name, got, tt.want)
		}
	}

	// Expiry: a value that died while the read was in flight was live
	// when Redis handed it out; one dead before the read began is dead.
	clk.Step(10 * time.Second) // exactly the lifetime: expired
	if got := c.judge(tick, read); got != 0 {
		t.Errorf("expired after the read began: judge = %d, want 0", got)
	}
	if got := c.judge(tick, clk.Now().Add(ExpiryGrain-time.Microsecond)); got != 0 {
		t.Errorf("expired within ExpiryGrain before the read began: judge = %d, want 0", got)
	}
	if got := c.judge(tick, clk.Now().Add(ExpiryGrain)); got != wechattest.CodeExpired {
		t.Errorf("expired ExpiryGrain before the read began: judge = %d, want %d", got, wechattest.CodeExpired)
	}
	if got := tc.judge(tok, clk.Now().Add(time.Second)); got != wechattest.CodeExpired {
		t.Errorf("token expired when the read began: judge = %d, want %d", got, wechattest.CodeExpired)
	}
	// Rotated out of band: dead at once, whatever the read's start.
	clk.Step(-10 * time.Second)
	fresh := srv.RotateTicket(appid, wechattest.KindJSAPI)
	if got := c.judge(tick, read.Add(-time.Second)); got != wechattest.CodeNotLatest {
		t.Errorf("rotated ticket: judge = %d, want %d", got, wechattest.CodeNotLatest)
	}
	if got := c.judge(fresh, read); got != 0 {
		t.Errorf("the rotated-in ticket: judge = %d, want 0", got)
	}
}

func TestRollovers(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var r rollovers
	r.note("b", t0.Add(2*time.Second), 10*time.Millisecond)
	r.note("a", t0.Add(time.Second), 900*time.Millisecond)
	r.note("b", t0.Add(1500*time.Millisecond), 30*time.Millisecond) // an earlier reader, a longer gap
	r.note("b", t0.Add(3*time.Second), 5*time.Millisecond)
	got := r.list()
	want := []Rollover{{At: t0.Add(time.Second), Gap: 900 * time.Millisecond}, {At: t0.Add(1500 * time.Millisecond), Gap: 30 * time.Millisecond}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("list = %v, want %v", got, want)
	}
	if g := Gaps(got); len(g) != 2 || g[0] != 900*time.Millisecond || g[1] != 30*time.Millisecond {
		t.Errorf("Gaps = %v", g)
	}
	if got := (rollovers(nil)).list(); len(got) != 0 {
		t.Errorf("empty list = %v", got)
	}
}

// TestRolloverCalls pins the bound: for a 5 s value asked first at 2.25 s
// with a 1 s retry: 2.25, 3.625, 4.625, 5 (expiry), 6.
func TestRolloverCalls(t *testing.T) {
	for _, tt := range []struct {
		l, retry time.Duration
		want     int
	}{
		{5 * time.Second, time.Second, 5},
		{2 * time.Hour, time.Second, 15}, // 3240 s, 5220, 6210, ... 7199, 7200, 7201
		{time.Second, time.Second, 3},    // 0.45, 1 (expiry), 2
	} {
		if got := RolloverCalls(tt.l, tt.retry); got != tt.want {
			t.Errorf("RolloverCalls(%s, %s) = %d, want %d", tt.l, tt.retry, got, tt.want)
		}
	}
}
