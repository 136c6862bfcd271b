package wechattest

import (
	"regexp"
	"sync"
	"testing"
	"time"
)

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{136}$`)

func TestClassic_newTokenPerCall(t *testing.T) {
	f := newFake(t, Config{})
	a1, a2 := f.classic(), f.classic()
	if a1.AccessToken == a2.AccessToken {
		t.Fatal("classic returned the same token twice")
	}
	if !tokenRE.MatchString(a1.AccessToken) {
		t.Errorf("token %q is not 136 url-safe characters", a1.AccessToken)
	}
	if a1.ExpiresIn != 7200 || a1.contentType != jsonContentType {
		t.Errorf("expires_in %d content type %q, want 7200 and %q", a1.ExpiresIn, a1.contentType, jsonContentType)
	}
}

func TestClassic_overlap(t *testing.T) {
	f := newFake(t, Config{Lifetime: 60 * time.Second, Overlap: 10 * time.Second})
	old := f.classic().AccessToken
	f.clk.Step(5 * time.Second)
	cur := f.classic().AccessToken
	f.clk.Step(10*time.Second - time.Nanosecond)
	if got := f.call(old); got != 0 {
		t.Fatalf("superseded token inside overlap: %d, want 0", got)
	}
	f.clk.Step(time.Nanosecond)
	if got := f.call(old); got != CodeNotLatest {
		t.Fatalf("superseded token after overlap: %d, want 40001", got)
	}
	if got := f.call(cur); got != 0 {
		t.Fatalf("latest token: %d, want 0", got)
	}
}

func TestClassic_expiry(t *testing.T) {
	f := newFake(t, Config{Lifetime: 60 * time.Second, Overlap: 10 * time.Second})
	tok := f.classic().AccessToken
	f.clk.Step(60*time.Second - time.Nanosecond)
	if got := f.Check(tok); got != 0 {
		t.Fatalf("before expiry: %d", got)
	}
	f.clk.Step(time.Nanosecond)
	if got := f.Check(tok); got != CodeExpired {
		t.Fatalf("at expiry: %d, want 42001", got)
	}
	// Superseded and expired: expiry wins.
	f.classic()
	f.clk.Step(time.Hour)
	if got := f.Check(tok); got != CodeExpired {
		t.Fatalf("superseded and expired: %d, want 42001", got)
	}
}

// A token superseded near its expiry dies at expiry, not at the end of
// the overlap.
func TestClassic_overlapBoundedByExpiry(t *testing.T) {
	f := newFake(t, Config{Lifetime: 60 * time.Second, Overlap: 30 * time.Second})
	old := f.classic().AccessToken
	f.clk.Step(50 * time.Second)
	f.classic()
	f.clk.Step(10 * time.Second)
	if got := f.Check(old); got != CodeExpired {
		t.Fatalf("got %d, want 42001", got)
	}
}

func TestCredentialErrors(t *testing.T) {
	f := newFake(t, Config{})
	for _, tc := range []struct {
		name               string
		grant, appid, sec  string
		classic, stableErr int
	}{
		{"missing appid", "client_credential", "", secret, 41002, 41002},
		{"missing secret", "client_credential", appID, "", 41004, 41004},
		{"bad grant_type", "password", appID, secret, 40002, 40002},
		{"unknown appid", "client_credential", "wxunknown", secret, 40013, 40013},
		{"wrong secret", "client_credential", appID, "wrong", 40001, 40125},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := map[string][]string{"grant_type": {tc.grant}, "appid": {tc.appid}, "secret": {tc.sec}}
			wantCode(t, f.get("/cgi-bin/token", q), tc.classic)
			wantCode(t, f.post("/cgi-bin/stable_token", map[string]any{
				"grant_type": tc.grant, "appid": tc.appid, "secret": tc.sec,
			}), tc.stableErr)
		})
	}
	wantCode(t, f.post("/cgi-bin/stable_token", []byte("{not json")), 47001)
	au := f.Audit()
	if au.TotalFetches != 0 || au.Errors["token/40001"] != 1 || au.Errors["stable_token/40125"] != 1 || au.Errors["stable_token/47001"] != 1 {
		t.Errorf("audit = %+v", au)
	}
}

func TestAddApp_changesSecret(t *testing.T) {
	f := newFake(t, Config{})
	f.AddApp(appID, "new-secret")
	wantCode(t, f.classicAs(appID, secret), 40001)
	f.mustToken(f.classicAs(appID, "new-secret"))
}

func TestStable_sameTokenWhileValid(t *testing.T) {
	f := newFake(t, Config{Lifetime: 100 * time.Second, Overlap: 20 * time.Second})
	a1 := f.stable(false)
	if a1.ExpiresIn != 100 {
		t.Fatalf("expires_in = %d, want 100", a1.ExpiresIn)
	}
	f.clk.Step(30 * time.Second)
	a2 := f.stable(false)
	if a2.AccessToken != a1.AccessToken || a2.ExpiresIn != 70 {
		t.Fatalf("second call: same=%v expires_in=%d, want same token and 70", a2.AccessToken == a1.AccessToken, a2.ExpiresIn)
	}
	// 20 s + 1 ns left: still outside the rotation window.
	f.clk.Step(50*time.Second - time.Nanosecond)
	if a3 := f.stable(false); a3.AccessToken != a1.AccessToken || a3.ExpiresIn != 20 {
		t.Fatalf("just before the window: rotated=%v expires_in=%d", a3.AccessToken != a1.AccessToken, a3.ExpiresIn)
	}
	// Exactly 20 s left: inside the window, a new token.
	f.clk.Step(time.Nanosecond)
	a4 := f.stable(false)
	if a4.AccessToken == a1.AccessToken || a4.ExpiresIn != 100 {
		t.Fatalf("in the window: rotated=%v expires_in=%d, want a new token with 100", a4.AccessToken != a1.AccessToken, a4.ExpiresIn)
	}
	if f.Check(a1.AccessToken) != 0 || f.Check(a4.AccessToken) != 0 {
		t.Fatal("old and new must both be valid in the window")
	}
	if a5 := f.stable(false); a5.AccessToken != a4.AccessToken {
		t.Fatal("after rotation the new token must be returned")
	}
	f.clk.Step(20 * time.Second)
	if got := f.Check(a1.AccessToken); got != CodeExpired {
		t.Fatalf("old after expiry: %d, want 42001", got)
	}
	if got := f.Check(a4.AccessToken); got != 0 {
		t.Fatalf("new: %d", got)
	}
	if au := f.Audit(); au.Issued[appID+"/stable_token"] != 2 || au.Fetches[appID+"/stable_token"] != 5 {
		t.Errorf("audit = %+v", au)
	}
}

func TestStable_afterExpiryNewToken(t *testing.T) {
	f := newFake(t, Config{Lifetime: 100 * time.Second, Overlap: 20 * time.Second})
	a1 := f.stable(false)
	f.clk.Step(time.Hour)
	if a2 := f.stable(false); a2.AccessToken == a1.AccessToken || a2.ExpiresIn != 100 {
		t.Fatal("an expired stable token must be replaced")
	}
}

func TestStable_force(t *testing.T) {
	f := newFake(t, Config{})
	a1 := f.stable(false)
	a2 := f.stable(true)
	if a2.AccessToken == a1.AccessToken || a2.ExpiresIn != 7200 {
		t.Fatal("force_refresh must issue a new token")
	}
	if got := f.call(a1.AccessToken); got != CodeNotLatest {
		t.Fatalf("force-refreshed token: %d, want 40001", got)
	}
	// Inside the interval: no rotation, the current token.
	f.clk.Step(30*time.Second - time.Nanosecond)
	if a3 := f.stable(true); a3.AccessToken != a2.AccessToken {
		t.Fatal("force inside 30 s must not rotate")
	}
	f.clk.Step(time.Nanosecond)
	if a4 := f.stable(true); a4.AccessToken == a2.AccessToken {
		t.Fatal("force after 30 s must rotate")
	}
	au := f.Audit()
	if au.Fetches[appID+"/stable_token_force"] != 3 || au.Fetches[appID+"/stable_token"] != 1 || au.Issued[appID+"/stable_token"] != 3 {
		t.Errorf("audit = %+v", au)
	}
}

func TestStable_forceTooSoonErrcode(t *testing.T) {
	f := newFake(t, Config{ForceTooSoonErrcode: 45011})
	f.stable(true)
	wantCode(t, f.stableAs(appID, secret, true), 45011)
}

func TestStable_forceDailyLimit(t *testing.T) {
	f := newFake(t, Config{ForceDailyLimit: 3, ForceInterval: time.Second})
	for range 3 {
		f.stable(true)
		f.clk.Step(time.Second)
	}
	wantCode(t, f.stableAs(appID, secret, true), 45009)
	f.mustToken(f.stableAs(appID, secret, false)) // normal mode still works
	// The day starts at 00:00 UTC+8, 16:00 UTC.
	f.clk.SetTime(time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC).Add(-time.Nanosecond))
	wantCode(t, f.stableAs(appID, secret, true), 45009)
	f.clk.Step(time.Nanosecond)
	f.stable(true)
}

func TestClassicAndStableIsolated(t *testing.T) {
	f := newFake(t, Config{Overlap: time.Second})
	c := f.classic().AccessToken
	s := f.stable(false).AccessToken
	f.stable(true) // kills s at once, must not touch c
	if got := f.Check(c); got != 0 {
		t.Fatalf("classic after a stable force: %d, want 0", got)
	}
	if got := f.Check(s); got != CodeNotLatest {
		t.Fatalf("stable after force: %d, want 40001", got)
	}
	s = f.stable(false).AccessToken
	f.classic() // supersedes c, must not touch s
	f.clk.Step(time.Minute)
	if got := f.Check(c); got != CodeNotLatest {
		t.Fatalf("classic after overlap: %d, want 40001", got)
	}
	if got := f.Check(s); got != 0 {
		t.Fatalf("stable after a classic fetch: %d, want 0", got)
	}
}

func TestCheck_unknownAndMissing(t *testing.T) {
	f := newFake(t, Config{})
	if got := f.call("never-issued"); got != CodeIllegal {
		t.Fatalf("unknown: %d, want 40014", got)
	}
	if got := f.call(""); got != CodeMissing {
		t.Fatalf("missing: %d, want 41001", got)
	}
}

func TestPrune_forgetsOldTokens(t *testing.T) {
	f := newFake(t, Config{DailyQuota: -1, Lifetime: time.Minute})
	old := f.Rotate(appID)
	f.clk.Step(25 * time.Hour)
	for range 1024 {
		f.Rotate(appID)
	}
	if got := f.Check(old); got != CodeIllegal {
		t.Fatalf("pruned token: %d, want 40014", got)
	}
}

func TestConcurrentFetches(t *testing.T) {
	f := newFake(t, Config{DailyQuota: -1})
	const n = 40
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = make(map[string]bool)
	)
	for i := range n {
		wg.Go(func() {
			var tok string
			if i%2 == 0 {
				tok = f.classicAs(appID, secret).AccessToken
			} else {
				tok = f.stableAs(appID, secret, false).AccessToken
			}
			mu.Lock()
			seen[tok] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	au := f.Audit()
	if au.TotalFetches != n || au.Issued[appID+"/token"] != n/2 || au.Issued[appID+"/stable_token"] != 1 {
		t.Fatalf("audit = %+v", au)
	}
	if len(seen) != n/2+1 || seen[""] {
		t.Fatalf("%d distinct tokens, want %d", len(seen), n/2+1)
	}
}
