package wechat

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	testclock "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

func newStable(t *testing.T, up *wechattest.Server, clk *testclock.FakeClock) *Stable {
	t.Helper()
	p, err := NewStable(testConfig(t, up.URL, clk))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func fetch(t *testing.T, p upstream.Provider, invalid string) upstream.Token {
	t.Helper()
	tok, err := p.Fetch(context.Background(), upstream.FetchRequest{Invalid: invalid})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func forces(up *wechattest.Server) int {
	return up.Audit().Fetches[testAppID+"/stable_token_force"]
}

func TestStable_normalMode(t *testing.T) {
	up, clk := newUpstream(t, wechattest.Config{})
	p := newStable(t, up, clk)
	t1 := fetch(t, p, "")
	clk.Step(time.Minute)
	t2 := fetch(t, p, "")
	if t1.Value != t2.Value || t2.ExpiresIn != 7140*time.Second {
		t.Fatalf("normal mode: %v then %v", t1, t2)
	}
	// A report of a token the upstream no longer returns: no force.
	t3 := fetch(t, p, "some-older-token")
	if t3.Value != t1.Value || forces(up) != 0 {
		t.Fatal("force_refresh used for a token that is not current")
	}
}

func TestStable_forceWhenSameTokenReported(t *testing.T) {
	up, clk := newUpstream(t, wechattest.Config{})
	p := newStable(t, up, clk)
	bad := fetch(t, p, "")
	fresh := fetch(t, p, bad.Value)
	if fresh.Value == bad.Value || forces(up) != 1 || up.Check(bad.Value) != 40001 || up.Check(fresh.Value) != 0 {
		t.Fatalf("force: fresh==bad %v, forces %d", fresh.Value == bad.Value, forces(up))
	}
}

func TestStable_forceInterval(t *testing.T) {
	up, clk := newUpstream(t, wechattest.Config{})
	p := newStable(t, up, clk)
	t1 := fetch(t, p, fetch(t, p, "").Value) // forced
	clk.Step(ForceInterval - time.Nanosecond)
	t2 := fetch(t, p, t1.Value) // too soon: the normal-mode token, no error
	if t2.Value != t1.Value || forces(up) != 1 {
		t.Fatalf("forced inside the interval (forces %d)", forces(up))
	}
	clk.Step(time.Nanosecond)
	if t3 := fetch(t, p, t1.Value); t3.Value == t1.Value || forces(up) != 2 {
		t.Fatalf("not forced after the interval (forces %d)", forces(up))
	}
}

func TestStable_forceDailyLimit(t *testing.T) {
	up, clk := newUpstream(t, wechattest.Config{ForceDailyLimit: 100, Lifetime: 24 * time.Hour})
	p := newStable(t, up, clk)
	// start is 20:00 UTC+8; 20 forces 30 s apart end well before midnight.
	tok := fetch(t, p, "")
	for range ForceDailyLimit {
		tok = fetch(t, p, tok.Value)
		clk.Step(ForceInterval)
	}
	if forces(up) != ForceDailyLimit {
		t.Fatalf("forces = %d", forces(up))
	}
	if got := fetch(t, p, tok.Value); got.Value != tok.Value || forces(up) != ForceDailyLimit {
		t.Fatalf("21st force made (forces %d)", forces(up))
	}
	// Days start at 00:00 UTC+8 (16:00 UTC).
	clk.SetTime(time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC).Add(-time.Nanosecond))
	fetch(t, p, tok.Value)
	if forces(up) != ForceDailyLimit {
		t.Fatal("forced before the day changed")
	}
	clk.Step(time.Nanosecond)
	if got := fetch(t, p, tok.Value); got.Value == tok.Value || forces(up) != ForceDailyLimit+1 {
		t.Fatalf("no force on the new day (forces %d)", forces(up))
	}
}

// Concurrent reports of the same token collapse into one force.
func TestStable_concurrentReports(t *testing.T) {
	up, clk := newUpstream(t, wechattest.Config{})
	p := newStable(t, up, clk)
	bad := fetch(t, p, "")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := p.Fetch(context.Background(), upstream.FetchRequest{Invalid: bad.Value}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if forces(up) != 1 {
		t.Fatalf("forces = %d, want 1", forces(up))
	}
}

func TestStable_errors(t *testing.T) {
	up, clk := newUpstream(t, wechattest.Config{})
	cfg := testConfig(t, up.URL, clk)
	cfg.Secret = "wrong"
	p, _ := NewStable(cfg)
	_, err := p.Fetch(context.Background(), upstream.FetchRequest{Invalid: "x"})
	wantUpstream(t, err, 40125, 0, upstream.ClassConfig)
}

// When the forced call fails, its error is returned, not the bad token.
func TestStable_forceFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body stableRequest
		_ = jsonDecode(r, &body)
		w.Header().Set("Content-Type", "application/json; encoding=utf-8")
		if body.ForceRefresh {
			_, _ = w.Write([]byte(`{"errcode":45009,"errmsg":"reach max api daily quota limit"}`))
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"SAME","expires_in":7200}`))
	}))
	defer srv.Close()
	p, _ := NewStable(testConfig(t, srv.URL, testclock.NewFakeClock(start)))
	tok, err := p.Fetch(context.Background(), upstream.FetchRequest{Invalid: "SAME"})
	wantUpstream(t, err, 45009, 0, upstream.ClassQuota)
	if tok.Value != "" {
		t.Fatal("token returned with an error")
	}
}

func jsonDecode(r *http.Request, v any) error {
	return json.NewDecoder(r.Body).Decode(v)
}
