package refresher

import (
	"context"
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/upstream"
)

// TestRefresher_sameValue_rollover (DESIGN "Credential kinds"): an
// upstream that answers the stored value until it expires. On virtual
// time: a raw reader of the token key is never handed a dead value, sees
// no gap longer than one RetryMin (plus the upstream's own lag past the
// expiry tokend saw), and the upstream is asked at a bounded rate.
func TestRefresher_sameValue_rollover(t *testing.T) {
	const (
		life   = 20 * time.Second
		before = 8 * time.Second
		retry  = 500 * time.Millisecond
		step   = 100 * time.Millisecond
	)
	for _, tc := range []struct {
		name    string
		repeat  upstream.Repeat
		trusted bool
		lag     time.Duration // the upstream rolls over this long after the announced expiry
		maxGap  time.Duration
		minIn   time.Duration // the provider refuses answers with less life left (short-life errors)
	}{
		// tokend is the only caller: its first-seen expiry is the truth.
		{"first-seen, rolls over at the expiry", upstream.RepeatSameFirstSeen, false, 0, step, 0},
		// The value was issued later than tokend's send time: the upstream
		// answers it (past the expiry tokend keeps) for 0.7s more.
		{"first-seen, rolls over 0.7s late", upstream.RepeatSameFirstSeen, false, 700 * time.Millisecond, 700*time.Millisecond + retry + step, 0},
		// wechat_stable: a new value 3s before the old one's expiry.
		{"trusted, rolls over 3s early", upstream.RepeatSameTrusted, true, -3 * time.Second, 0, 0},
		// WeCom: the same token with its true remaining life until it
		// expires; near the end the answer is below MinExpiresIn. That is
		// a rollover to wait for, not an error with growing backoff.
		{"trusted, short answers near the end", upstream.RepeatSameTrusted, true, 0, retry + step, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rdb, mr := miniStore(t)
			v := newVTime(t, mr)
			up := &sameUpstream{clk: v.clk, life: life, lag: tc.lag, trusted: tc.trusted, minIn: tc.minIn}
			cfg := baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: up, Repeat: tc.repeat})
			cfg.Clock, cfg.BeforeExpiry, cfg.SafetyMargin, cfg.RetryMin, cfg.RetryMax, cfg.ReportPoll = v.clk, before, time.Second, retry, 10*time.Second, time.Hour
			r, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			v.r = r
			start(t, r)
			v.settle()
			var log readerLog
			rollover, lastErr := false, ""
			for range int((2*life + 3*time.Second) / step) { // two rollovers
				log.read(t, rdb, s.Keys().Token("app"), v.clk.Now(), up.deadAt)
				st := r.States()[0]
				rollover = rollover || st.Waiting == waitRollover
				if st.LastError != "" {
					lastErr = st.LastError
				}
				v.advance(step)
			}
			if lastErr != "" {
				t.Fatalf("a rollover showed as an error: %s", lastErr)
			}
			if log.deadHandout != "" {
				t.Fatalf("a reader was handed a dead value: %s", log.deadHandout)
			}
			if log.longestGap > tc.maxGap {
				t.Fatalf("readers saw a gap of %s at a rollover, want at most %s", log.longestGap, tc.maxGap)
			}
			if up.n < 3 {
				t.Fatalf("%d values in two lifetimes, want 3", up.n)
			}
			// Per lifetime: the due ask, about log2(before/retry) paced asks,
			// a few RetryMin asks past the expiry, the rollover's fetch.
			t.Logf("%d upstream calls for %d values, longest gap %s", up.Calls(), up.n, log.longestGap)
			if per := up.Calls() / 2; per > 12 {
				t.Fatalf("%d upstream calls per lifetime, want a bounded rate (about 8)", per)
			}
			if !rollover {
				t.Fatal("the rollover state never showed in AppState.Waiting")
			}
			st, err := s.Status(context.Background(), "app")
			if err != nil || st.Kind != "" || st.Parent != "" {
				t.Fatalf("status %+v %v", st, err)
			}
		})
	}
}
