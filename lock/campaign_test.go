package lock

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestCampaign_next(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	failing := campaign{failing: 3, failingSince: t0, unreported: 2, lastReport: t0}
	tests := []struct {
		name   string
		c      campaign
		o      outcome
		now    time.Time
		reread bool
		want   campaignLog
		after  campaign
	}{
		{"first failure warns", campaign{}, outcomeFailed, t0, false,
			campaignLog{firstFailure: true}, campaign{failing: 1, failingSince: t0, lastReport: t0}},
		{"repeat within a minute is counted only", failing, outcomeFailed, t0.Add(failureSummaryEvery - 1), false,
			campaignLog{}, campaign{failing: 4, failingSince: t0, unreported: 3, lastReport: t0}},
		{"a minute later: one summary", failing, outcomeFailed, t0.Add(failureSummaryEvery), false,
			campaignLog{summary: true, count: 3, since: t0},
			campaign{failing: 4, failingSince: t0, lastReport: t0.Add(failureSummaryEvery)}},
		{"answer after failures: recovered, then standby", failing, outcomeHeld, t0.Add(time.Second), false,
			campaignLog{recovered: true, count: 3, since: t0, standby: true}, campaign{standby: true}},
		{"obtained after failures: recovered", failing, outcomeObtained, t0.Add(time.Second), false,
			campaignLog{recovered: true, count: 3, since: t0}, campaign{}},
		{"first held: standby once", campaign{}, outcomeHeld, t0, false,
			campaignLog{standby: true}, campaign{standby: true}},
		{"held again: quiet", campaign{standby: true}, outcomeHeld, t0, false,
			campaignLog{}, campaign{standby: true}},
		{"held again after a new leader was announced", campaign{standby: true}, outcomeHeld, t0, true,
			campaignLog{standby: true}, campaign{standby: true}},
		{"obtained: standby forgotten", campaign{standby: true}, outcomeObtained, t0, false,
			campaignLog{}, campaign{}},
		{"failure while standing by keeps the standby line", campaign{standby: true}, outcomeFailed, t0, false,
			campaignLog{firstFailure: true}, campaign{standby: true, failing: 1, failingSince: t0, lastReport: t0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, l := tt.c.next(tt.o, tt.now, tt.reread)
			if l != tt.want {
				t.Errorf("log = %+v, want %+v", l, tt.want)
			}
			if got != tt.after {
				t.Errorf("campaign = %+v, want %+v", got, tt.after)
			}
		})
	}
}

func TestLeaderFromLease(t *testing.T) {
	tests := []struct {
		value, want string
		ok          bool
	}{
		{"tok:replica-1", "replica-1", true},
		{"tok:a:b", "a:b", true},
		{"tok:", "", false},
		{":a", "", false},
		{"no-separator", "", false},
		{"", "", false},
		{"tok:has space", "", false},
		{"tok:ctl\x1b[31m", "", false},
		{"tok:" + string(make([]byte, maxLeaderID)), "", false},
		{"tok:" + strings.Repeat("x", maxLeaderID), strings.Repeat("x", maxLeaderID), true},
		{"tok:" + strings.Repeat("x", maxLeaderID+1), "", false},
	}
	for _, tt := range tests {
		got, ok := leaderFromLease(tt.value)
		if got != tt.want || ok != tt.ok {
			t.Errorf("leaderFromLease(%q) = %q, %v; want %q, %v", tt.value, got, ok, tt.want, tt.ok)
		}
	}
}

// TestElector_standbyLogsOnce (issue 11 item 13): a standby says once that
// it stands by, naming the leader and never the lease token, however often
// it retries.
func TestElector_standbyLogsOnce(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := &countingClient{Client: redis.NewClient(&redis.Options{Addr: mr.Addr()})}
	defer rdb.Close()
	a, _ := New(fastConfig(rdb, "leader-a"))
	runElector(t, a, func(ctx context.Context, _ Term) { <-ctx.Done() })
	waitFor(t, "a leads", 2*time.Second, func() bool { _, ok := a.Leading(); return ok })
	term, _ := a.Leading()

	log, c := newCapture()
	cfg := fastConfig(rdb, "b")
	cfg.RetryInterval, cfg.Logger = 5*time.Millisecond, log
	b, _ := New(cfg)
	runElector(t, b, func(ctx context.Context, _ Term) { <-ctx.Done() })
	from := rdb.scripts.Load()
	waitFor(t, "b retried 20 times", 5*time.Second, func() bool { return rdb.scripts.Load()-from >= 20 })
	if n := c.count("lock: standing by"); n != 1 {
		t.Fatalf("%d standing-by lines, want 1", n)
	}
	if id, _ := c.attr("lock: standing by", "leader"); id != "leader-a" {
		t.Fatalf("standing by: leader %q, want leader-a", id)
	}
	token := term.Value[:len(term.Value)-len(":leader-a")]
	for _, r := range *c.recs {
		if strings.Contains(r.Message, token) {
			t.Fatalf("the lease token leaked into %q", r.Message)
		}
		r.Attrs(func(at slog.Attr) bool {
			if strings.Contains(at.Value.String(), token) {
				t.Fatalf("the lease token leaked into %s=%s", at.Key, at.Value)
			}
			return true
		})
	}
}

// TestElector_obtainFailures_rateLimited (issue 11 item 14): while Redis
// fails, one WARN, not one per retry; when it answers again, one INFO.
func TestElector_obtainFailures_rateLimited(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := &countingClient{Client: redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})}
	defer rdb.Close()
	log, c := newCapture()
	cfg := fastConfig(rdb, "a")
	cfg.Channel = "" // keep the subscription out of SetError's way
	cfg.RetryInterval, cfg.Logger = 5*time.Millisecond, log
	mr.SetError("LOADING simulated outage")
	e, _ := New(cfg)
	runElector(t, e, func(ctx context.Context, _ Term) { <-ctx.Done() })
	waitFor(t, "20 failed obtains", 5*time.Second, func() bool { return rdb.scripts.Load() >= 20 })
	if n := c.count("lock: obtain failed"); n != 1 {
		t.Fatalf("%d obtain-failed lines after 20 failures, want 1", n)
	}
	mr.SetError("")
	waitFor(t, "leading", 5*time.Second, func() bool { _, ok := e.Leading(); return ok })
	if n := c.count("lock: redis answers again"); n != 1 {
		t.Fatalf("%d recovery lines, want 1", n)
	}
	if got, _ := c.attr("lock: redis answers again", "failures"); got == "" || got == "0" || got == "1" {
		t.Fatalf("recovery line counts %q failures, want the retries", got)
	}
}
