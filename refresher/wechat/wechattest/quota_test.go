package wechattest

import (
	"testing"
	"time"
)

func TestQuota_daily(t *testing.T) {
	f := newFake(t, Config{DailyQuota: 3})
	for range 3 {
		f.classic()
	}
	wantCode(t, f.classicAs(appID, secret), 45009)
	// The stable family has its own quota.
	for range 3 {
		f.stable(false)
	}
	wantCode(t, f.stableAs(appID, secret, false), 45009)
	wantCode(t, f.stableAs(appID, secret, true), 45009)
	if au := f.Audit(); au.Errors["token/45009"] != 1 || au.Errors["stable_token/45009"] != 2 || au.TotalFetches != 6 {
		t.Errorf("audit = %+v", au)
	}
	// Days start at 00:00 UTC+8 = 16:00 UTC; start is 12:00 UTC.
	f.clk.Step(4*time.Hour - time.Nanosecond)
	wantCode(t, f.classicAs(appID, secret), 45009)
	f.clk.Step(time.Nanosecond)
	f.classic()
	f.stable(false)
}

func TestQuota_defaultIs2000(t *testing.T) {
	f := newFake(t, Config{})
	f.mu.Lock()
	a := f.books.Apps[appID]
	now := f.now()
	for range 1999 {
		if code := f.takeQuotaLocked(now, a, epToken); code != 0 {
			f.mu.Unlock()
			t.Fatalf("quota refused early: %d", code)
		}
	}
	f.mu.Unlock()
	f.classic()
	wantCode(t, f.classicAs(appID, secret), 45009)
}

func TestQuota_unlimited(t *testing.T) {
	f := newFake(t, Config{DailyQuota: -1})
	f.mu.Lock()
	for range 10000 {
		f.takeQuotaLocked(f.now(), f.books.Apps[appID], epToken)
	}
	f.mu.Unlock()
	f.classic()
}

func TestQuota_minute(t *testing.T) {
	f := newFake(t, Config{MinuteQuota: 2})
	f.clk.SetTime(start.Add(30 * time.Second))
	f.classic()
	f.classic()
	wantCode(t, f.classicAs(appID, secret), 45011)
	f.stable(false) // other family
	f.clk.SetTime(start.Add(time.Minute - time.Nanosecond))
	wantCode(t, f.classicAs(appID, secret), 45011)
	f.clk.SetTime(start.Add(time.Minute))
	f.classic()
}

func TestClearQuota(t *testing.T) {
	f := newFake(t, Config{DailyQuota: 1, ClearQuotaMonthly: 2})
	f.classic()
	wantCode(t, f.classicAs(appID, secret), 45009)
	clear := func() answer {
		return f.post("/cgi-bin/clear_quota/v2", map[string]string{"appid": appID, "appsecret": secret})
	}
	if a := clear(); a.ErrCode != 0 || a.ErrMsg != "ok" {
		t.Fatalf("clear_quota: %+v", a)
	}
	f.classic()
	wantCode(t, clear(), 0)
	wantCode(t, clear(), 48006)
	wantCode(t, f.post("/cgi-bin/clear_quota/v2", map[string]string{"appid": appID, "appsecret": "x"}), 40125)
	wantCode(t, f.post("/cgi-bin/clear_quota/v2", []byte("nope")), 47001)
	// Months start at 00:00 UTC+8 on the 1st: April 1st CST is 16:00 UTC on March 31st.
	f.clk.SetTime(time.Date(2025, 3, 31, 16, 0, 0, 0, time.UTC))
	wantCode(t, clear(), 0)
}

func TestClearQuota_defaultTenAMonth(t *testing.T) {
	f := newFake(t, Config{})
	for range 10 {
		wantCode(t, f.post("/cgi-bin/clear_quota/v2", map[string]string{"appid": appID, "appsecret": secret}), 0)
	}
	wantCode(t, f.post("/cgi-bin/clear_quota/v2", map[string]string{"appid": appID, "appsecret": secret}), 48006)
}

func TestResetQuota(t *testing.T) {
	f := newFake(t, Config{DailyQuota: 1, ForceDailyLimit: 1})
	f.classic()
	f.stable(true)
	f.clk.Step(time.Minute)
	wantCode(t, f.classicAs(appID, secret), 45009)
	f.ResetQuota(appID)
	f.ResetQuota("wxunknown") // no-op
	f.classic()
	f.stable(true)
}
