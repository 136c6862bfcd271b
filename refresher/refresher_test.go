package refresher

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

func TestNew_validates(t *testing.T) {
	s, _, _ := miniStore(t)
	p := &fakeProvider{}
	e := fixedElector{}
	one := []App{{ID: "a", Provider: p}}
	tests := []struct {
		name, field string
		cfg         Config
	}{
		{"no store", "Store", Config{Elector: e, Apps: one}},
		{"no apps", "Apps", Config{Store: s, Elector: e}},
		{"no id", "Apps[0].ID", Config{Store: s, Elector: e, Apps: []App{{Provider: p}}}},
		{"bad id", "Apps[0].ID", Config{Store: s, Elector: e, Apps: []App{{ID: "a b", Provider: p}}}},
		{"dup id", "Apps[1].ID", Config{Store: s, Elector: e, Apps: []App{{ID: "a", Provider: p}, {ID: "a", Provider: p}}}},
		{"no provider", "Apps[0].Provider", Config{Store: s, Elector: e, Apps: []App{{ID: "a"}}}},
		{"negative", "Cooldown", Config{Store: s, Elector: e, Apps: one, Cooldown: -1}},
		{"retry bounds", "RetryMin", Config{Store: s, Elector: e, Apps: one, RetryMin: time.Hour, RetryMax: time.Second}},
		{"late refresh", "BeforeExpiry", Config{Store: s, Elector: e, Apps: one, BeforeExpiry: time.Minute, SafetyMargin: time.Minute}},
		{"budget below -1", "DailyBudget", Config{Store: s, Elector: e, Apps: one, DailyBudget: -2}},
		{"budget above WeChat's", "DailyBudget", Config{Store: s, Elector: e, Apps: one, DailyBudget: MaxDailyBudget + 1}},
		{"budget at WeChat's", "", Config{Store: s, Elector: e, Apps: one, DailyBudget: MaxDailyBudget}},
		{"no budget", "", Config{Store: s, Elector: e, Apps: one, DailyBudget: NoDailyBudget}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			var fe *FieldError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
				t.Fatalf("New: err = %v, want a FieldError for %s", err, tt.field)
			}
		})
	}
}

// TestRefresher_threeInstances_oneFetchPerCycle: three refreshers with real
// electors on one real Redis fetch as often as one would.
func TestRefresher_threeInstances_oneFetchPerCycle(t *testing.T) {
	srv := redisserver.Start(t)
	p := &fakeProvider{name: "up", lifetime: 2 * time.Second} // refreshed at half-life: every 1s
	var rs []*Refresher
	for _, id := range []string{"a", "b", "c"} {
		rdb := srv.Client()
		s := newStore(t, rdb)
		el, err := lock.New(lock.Config{
			Client: rdb, Key: s.Keys().Lease(), EpochKey: s.Keys().Epoch(), Channel: s.Keys().Events(), ID: id,
			LeaseTTL: 2 * time.Second, RenewInterval: 200 * time.Millisecond, RenewDeadline: time.Second,
			RetryInterval: 50 * time.Millisecond, OpTimeout: 150 * time.Millisecond, Logger: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := New(baseConfig(s, el, App{ID: "app", Provider: p}))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
		start(t, r)
	}
	rdb := srv.Client()
	s := newStore(t, rdb)
	wait.For(t, 2*time.Second, "first token", func() bool { return token(t, rdb, s, "app") != "" })
	began, calls0 := time.Now(), p.Calls()
	wait.Hold(t, 4200*time.Millisecond, "four refresh cycles of 2s tokens on real Redis TTLs")
	cycles := time.Since(began) / time.Second
	fetches := p.Calls() - calls0
	t.Logf("3 replicas: %d fetches in %d refresh cycles", fetches, cycles)
	if fetches < int(cycles)-1 || fetches > int(cycles)+1 {
		t.Fatalf("%d fetches in %d cycles, want one per cycle", fetches, cycles)
	}
	leaders := 0
	for _, r := range rs {
		if _, ok := r.Leading(); ok {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders", leaders)
	}
}

func TestRefresher_keepsTokenOnErrors(t *testing.T) {
	for _, tc := range []struct {
		err   error
		class string
	}{
		{&upstream.Error{Code: -1, Message: "system busy", Class: upstream.ClassRetry}, "retry"},
		{&upstream.Error{HTTPStatus: 502, Message: "bad gateway", Class: upstream.ClassRetry}, "retry"},
		{errors.New("dial tcp: connection refused"), "retry"},
		{&upstream.Error{Code: 40164, Message: "invalid ip", Class: upstream.ClassConfig}, "config"},
		{&upstream.Error{Code: 45009, Message: "reach max api daily quota limit", Class: upstream.ClassQuota}, "quota"},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			s, rdb, _ := miniStore(t)
			// miniredis TTLs do not tick, so the token stays readable while
			// the short lifetime makes it due every 100ms.
			p := &fakeProvider{name: "up", lifetime: 200 * time.Millisecond}
			r, _ := New(baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p}))
			start(t, r)
			wait.For(t, time.Second, "first token", func() bool { return token(t, rdb, s, "app") != "" })
			good := token(t, rdb, s, "app")
			p.set(tc.err, nil)
			before := p.Calls()
			wait.For(t, 2*time.Second, "a failed fetch", func() bool { return r.States()[0].LastError != "" })
			wait.Hold(t, 300*time.Millisecond, "the error's backoff retries (or its long wait) play out: the assertions count calls per 300ms")
			if got := token(t, rdb, s, "app"); got != good {
				t.Fatal("stored token replaced after a failed fetch")
			}
			st := r.States()[0]
			if st.LastErrorClass != tc.class {
				t.Fatalf("class %q, want %q", st.LastErrorClass, tc.class)
			}
			after := p.Calls() - before
			switch tc.class {
			case "retry":
				if after < 3 {
					t.Fatalf("transient error retried %d times in 300ms, want backoff retries", after)
				}
			default:
				if after != 1 {
					t.Fatalf("%s error: %d calls, want 1 then a long wait", tc.class, after)
				}
			}
			stored, err := s.Status(context.Background(), "app")
			if err != nil || stored.LastError == "" || (tc.class != "retry" && stored.LastErrorCode == 0) {
				t.Fatalf("status in Redis: %+v %v", stored, err)
			}
		})
	}
}

func TestRefresher_budgetExhausted(t *testing.T) {
	s, rdb, _ := miniStore(t)
	p := &fakeProvider{name: "up", lifetime: 100 * time.Millisecond}
	cs := &countingStore{Store: s}
	cfg := baseConfig(cs, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p})
	cfg.DailyBudget = 3
	r, _ := New(cfg)
	start(t, r)
	wait.For(t, 2*time.Second, "budget error", func() bool { return r.States()[0].LastErrorClass == "quota" })
	cs.waitPolls(t, 2) // no fourth call follows
	if n := p.Calls(); n != 3 {
		t.Fatalf("%d upstream calls with a budget of 3", n)
	}
	if st := r.States()[0]; st.BudgetUsed != 3 || st.NextRefresh.Before(time.Now().Add(time.Minute)) || st.ExpiresAt.IsZero() || st.Fetches != 3 {
		t.Fatalf("state %+v", st)
	}
}

func TestRefresher_reportStorm_oneFetch(t *testing.T) {
	srv := redisserver.Start(t)
	rdb := srv.Client()
	s := newStore(t, rdb)
	p := &fakeProvider{name: "up", lifetime: time.Hour}
	obs := &countingObserver{}
	cs := &countingStore{Store: s}
	cfg := baseConfig(cs, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p})
	cfg.Observer = obs
	r, _ := New(cfg)
	start(t, r)
	wait.For(t, time.Second, "first token", func() bool { return token(t, rdb, s, "app") != "" })
	bad := token(t, rdb, s, "app")
	waitCooldownOver(t, s, "app", cfg.Cooldown)
	before := p.Calls()
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Report(context.Background(), "app", bad); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	wait.For(t, 2*time.Second, "new token", func() bool { return token(t, rdb, s, "app") != bad })
	cs.waitPolls(t, 2) // late events and the poll run
	if n := p.Calls() - before; n != 1 {
		t.Fatalf("100 reports caused %d fetches, want 1", n)
	}
	if pending, _ := s.PendingReports(context.Background()); len(pending) != 0 {
		t.Fatalf("reports left pending: %d", len(pending))
	}
	p.mu.Lock()
	last := p.reqs[len(p.reqs)-1]
	p.mu.Unlock()
	if last.Invalid != bad {
		t.Fatal("passive fetch did not pass the reported token to the provider")
	}
	// A report of the old token now fetches nothing.
	if err := s.Report(context.Background(), "app", bad); err != nil {
		t.Fatal(err)
	}
	wait.For(t, time.Second, "stale report cleared", func() bool {
		pending, _ := s.PendingReports(context.Background())
		return len(pending) == 0
	})
	if n := p.Calls() - before; n != 1 {
		t.Fatalf("a report of an old token caused a fetch (%d)", n)
	}
}

func TestRefresher_reportWithinCooldownWaits(t *testing.T) {
	s, rdb, _ := miniStore(t)
	p := &fakeProvider{name: "up", lifetime: time.Hour}
	cfg := baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p})
	cfg.Cooldown = 400 * time.Millisecond
	r, _ := New(cfg)
	start(t, r)
	wait.For(t, time.Second, "first token", func() bool { return token(t, rdb, s, "app") != "" })
	bad := token(t, rdb, s, "app")
	reported := time.Now()
	if err := s.Report(context.Background(), "app", bad); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 2*time.Second, "refresh after cooldown", func() bool { return token(t, rdb, s, "app") != bad })
	if waited := time.Since(reported); waited < 300*time.Millisecond {
		t.Fatalf("refreshed %s after the report, within the 400ms cooldown", waited)
	}
	if n := p.Calls(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
}

// TestRefresher_pausedLeaderLateWriteLoses: A takes a ticket and stalls in
// the upstream call; B becomes leader and writes; A's late write loses.
func TestRefresher_pausedLeaderLateWriteLoses(t *testing.T) {
	s, rdb, _ := miniStore(t)
	block := make(chan struct{})
	pa := &fakeProvider{name: "a", lifetime: time.Hour, block: block}
	obsA := &countingObserver{}
	cfgA := baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "A")}, App{ID: "app", Provider: pa})
	cfgA.Observer = obsA
	ra, _ := New(cfgA)
	stopA := start(t, ra)
	wait.For(t, time.Second, "A calling upstream", func() bool { return pa.Calls() == 1 })

	pb := &fakeProvider{name: "b", lifetime: time.Hour}
	rb, _ := New(baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "B")}, App{ID: "app", Provider: pb}))
	start(t, rb)
	wait.For(t, time.Second, "B's token", func() bool { return token(t, rdb, s, "app") == "b-tok-1" })

	close(block) // A wakes up and writes late
	wait.For(t, time.Second, "A's write rejected", func() bool { return obsA.rejected.Load() == 1 })
	stopA()
	if got := token(t, rdb, s, "app"); got != "b-tok-1" {
		t.Fatalf("token = %q, the paused leader's late write won", got)
	}
	if obsA.written.Load() != 0 {
		t.Fatal("A's write counted as accepted")
	}
}

func TestRefresher_notLeaderNoFetch(t *testing.T) {
	s, rdb, _ := miniStore(t)
	p := &fakeProvider{name: "up", lifetime: time.Hour}
	fixedTerm(t, s, rdb, "someone-else")
	cs := &countingStore{Store: s}
	r, _ := New(baseConfig(cs, fixedElector{lock.Term{Value: "me", Epoch: 1}}, App{ID: "app", Provider: p}))
	start(t, r)
	cs.waitPolls(t, 2) // the first sweep's check and two polls had their chance to fetch
	if p.Calls() != 0 || token(t, rdb, s, "app") != "" {
		t.Fatal("fetched without holding the lease")
	}
}

// TestRefresher_reportsKeepFailureSchedule: after a configuration error the
// next attempt waits ConfigRetry; reports of the current token do not bring
// it forward (they would burn the quota on an error a retry cannot fix).
func TestRefresher_reportsKeepFailureSchedule(t *testing.T) {
	s, rdb, _ := miniStore(t)
	p := &fakeProvider{name: "up", lifetime: time.Hour}
	cs := &countingStore{Store: s}
	cfg := baseConfig(cs, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p})
	r, _ := New(cfg)
	start(t, r)
	wait.For(t, time.Second, "first token", func() bool { return token(t, rdb, s, "app") != "" })
	tok := token(t, rdb, s, "app")
	waitCooldownOver(t, s, "app", cfg.Cooldown)
	p.set(&upstream.Error{Code: 40164, Message: "invalid ip", Class: upstream.ClassConfig}, nil)
	if err := s.Report(context.Background(), "app", tok); err != nil {
		t.Fatal(err)
	}
	wait.For(t, time.Second, "the failed passive fetch", func() bool { return r.States()[0].LastErrorCode == 40164 })
	calls := p.Calls()
	for range 5 {
		if err := s.Report(context.Background(), "app", tok); err != nil {
			t.Fatal(err)
		}
		cs.waitPolls(t, 1) // the report is seen, past another cooldown
	}
	if n := p.Calls() - calls; n != 0 {
		t.Fatalf("reports during the configuration error's slow retry caused %d upstream calls, want 0", n)
	}
	if pending, _ := s.PendingReport(context.Background(), "app"); pending != tok {
		t.Fatal("the report was dropped; it must wait for the next attempt")
	}
}

// unackedStore reports every write as not acknowledged by replicas (it
// counts calls like countingStore).
type unackedStore struct{ *countingStore }

func (u unackedStore) WriteToken(ctx context.Context, w store.Write) (store.WriteResult, error) {
	res, err := u.Store.WriteToken(ctx, w)
	res.Acked = false
	return res, err
}

// TestRefresher_unacknowledgedWriteCountsAsWritten: fetching again after a
// write that only missed its WAIT would retire the token just written.
func TestRefresher_unacknowledgedWriteCountsAsWritten(t *testing.T) {
	s, rdb, _ := miniStore(t)
	p := &fakeProvider{name: "up", lifetime: time.Hour}
	cs := &countingStore{Store: s}
	r, _ := New(baseConfig(unackedStore{cs}, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p}))
	start(t, r)
	wait.For(t, time.Second, "first token", func() bool { return token(t, rdb, s, "app") != "" })
	cs.waitPolls(t, 2) // no second fetch follows
	if n := p.Calls(); n != 1 {
		t.Fatalf("%d fetches after an unacknowledged write, want 1", n)
	}
	if st := r.States()[0]; st.LastError != "" || st.ExpiresAt.IsZero() {
		t.Fatalf("state %+v", st)
	}
}

// TestRefresher_lostKeyRefetchedBySweep: a token key lost to eviction or a
// DEL is fetched again within ReportPoll, not at the next due time.
func TestRefresher_lostKeyRefetchedBySweep(t *testing.T) {
	s, rdb, _ := miniStore(t)
	p := &fakeProvider{name: "up", lifetime: time.Hour}
	r, _ := New(baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p}))
	start(t, r)
	wait.For(t, time.Second, "first token", func() bool { return token(t, rdb, s, "app") != "" })
	rdb.Del(context.Background(), s.Keys().Token("app"))
	wait.For(t, time.Second, "the lost key fetched again", func() bool { return token(t, rdb, s, "app") != "" })
	if n := p.Calls(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

// TestRefresher_fetchedTokenWrittenDespiteShutdown: the upstream already
// issued the token (retiring the previous one), so it is written even when
// leadership ends while the answer is on its way.
func TestRefresher_fetchedTokenWrittenDespiteShutdown(t *testing.T) {
	s, rdb, _ := miniStore(t)
	block := make(chan struct{})
	p := &ignoringCtxProvider{release: block}
	r, _ := New(baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p}))
	stop := start(t, r)
	wait.For(t, time.Second, "the upstream call", func() bool { return p.called.Load() })
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }() // cancels the check while the upstream answers
	wait.For(t, time.Second, "the leadership cancelled", func() bool { _, ok := r.Leading(); return !ok })
	close(block)
	<-stopped
	if got := token(t, rdb, s, "app"); got != "late-token" {
		t.Fatalf("token = %q: the fetched token was dropped on shutdown", got)
	}
}

// ignoringCtxProvider answers once released, whatever its context says, as
// an upstream that already issued the token.
type ignoringCtxProvider struct {
	release chan struct{}
	called  atomic.Bool
}

func (p *ignoringCtxProvider) Fetch(ctx context.Context, _ upstream.FetchRequest) (upstream.Token, error) {
	p.called.Store(true)
	<-p.release
	return upstream.Token{Value: "late-token", ExpiresIn: time.Hour}, nil
}

// TestRefresher_reportInCooldownDoesNotBlockDueRefresh: a report inside the
// cooldown must neither spin the leader nor hold back a refresh that is due.
func TestRefresher_reportInCooldownDoesNotBlockDueRefresh(t *testing.T) {
	srv := redisserver.Start(t)
	rdb := srv.Client()
	s := newStore(t, rdb)
	p := &fakeProvider{name: "up", lifetime: 2 * time.Second} // due at half-life, 1s
	cfg := baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p})
	cfg.Cooldown = 3 * time.Second // longer than the half-life
	r, _ := New(cfg)
	start(t, r)
	wait.For(t, time.Second, "first token", func() bool { return token(t, rdb, s, "app") != "" })
	first := token(t, rdb, s, "app")
	if err := s.Report(context.Background(), "app", first); err != nil {
		t.Fatal(err)
	}
	before := rdb.Info(context.Background(), "stats").Val()
	wait.For(t, 1500*time.Millisecond, "the due refresh", func() bool { return token(t, rdb, s, "app") != first })
	after := rdb.Info(context.Background(), "stats").Val()
	if n := commands(after) - commands(before); n > 400 {
		t.Fatalf("%d Redis commands in about a second: the leader spins on the report", n)
	}
}

func commands(info string) int {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// TestRefresher_lostWriteWrittenAgain: a failover drops the leader's newest
// write and Redis serves an older token the upstream has retired; the next
// sweep writes the newest token again, with no upstream call.
func TestRefresher_lostWriteWrittenAgain(t *testing.T) {
	s, rdb, _ := miniStore(t)
	p := &fakeProvider{name: "up", lifetime: time.Hour}
	r, _ := New(baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p}))
	start(t, r)
	wait.For(t, time.Second, "first token", func() bool { return token(t, rdb, s, "app") != "" })
	ctx := context.Background()
	ticket, _ := rdb.HGet(ctx, s.Keys().Meta("app"), "ticket").Int64()
	// What a promoted replica that missed the write would hold.
	rdb.Set(ctx, s.Keys().Token("app"), "retired-token", time.Hour)
	rdb.HSet(ctx, s.Keys().Meta("app"), "token", "retired-token", "ticket", ticket-1000)
	wait.For(t, 2*time.Second, "the newest token written again", func() bool { return token(t, rdb, s, "app") == "up-tok-1" })
	if n := p.Calls(); n != 1 {
		t.Fatalf("%d upstream calls, want 1: the rewrite needs none", n)
	}
	if got, _ := rdb.HGet(ctx, s.Keys().Meta("app"), "ticket").Int64(); got != ticket {
		t.Fatalf("meta ticket %d, want the original %d", got, ticket)
	}
}
