package ha

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store"
)

// settleBound: no reader may be handed a dead token later than this after
// the sentinels named the new master. It covers a reader noticing the dead
// token (at once), its report reaching the leader (event, or ReportPoll
// 500ms), the leader's cooldown (500ms), one upstream fetch and the write's
// event reaching the readers, plus the leader's own recovery when the lease
// was lost with the master (lease_ttl 3s counted from its last replicated
// renewal).
const settleBound = 3 * time.Second

func sentinelClient(s *redisserver.Sentinels) func() redis.UniversalClient {
	return func() redis.UniversalClient {
		return redis.NewUniversalClient(&redis.UniversalOptions{
			MasterName: s.MasterName, Addrs: s.Addrs(),
			DialTimeout: redisTimeout, ReadTimeout: redisTimeout, WriteTimeout: redisTimeout,
			MaxRetries: 1, MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
		})
	}
}

func startSentinelFleet(t *testing.T, opts redisserver.SentinelOptions) (*redisserver.Sentinels, *fleet) {
	s := redisserver.StartSentinels(t, opts)
	if _, ok := sentinelClient(s)().(*redis.Client); !ok {
		t.Fatal("NewUniversalClient with MasterName did not return a failover client")
	}
	f := newFleet(t, sentinelClient(s))
	f.observe()
	f.startReplicas(3, store.Config{})
	f.startReaders()
	f.waitFirstToken(10 * time.Second)
	wait.Hold(t, 2*time.Second, "steady state; the token is past its cooldown")
	return s, f
}

// checkRecovery waits for a token written with a ticket above above, then
// runs past the settle bound and a full refresh cycle, and checks that no
// reader was handed a dead token after promoted+settleBound.
func checkRecovery(t *testing.T, f *fleet, failedAt, promoted time.Time, above int64) {
	t.Helper()
	wait.For(t, 15*time.Second, "a token written after the failover", func() bool {
		_, ok := f.meta.firstAbove(above)
		return ok
	})
	written, _ := f.meta.firstAbove(above)
	wait.Until(t, promoted.Add(settleBound+lifetime/2+time.Second), "past the settle bound and a full refresh cycle, readers checking")
	leaders := f.leaders()
	after, all, last := f.reads.deadAfter(promoted.Add(settleBound))
	f.finish()
	lastDead := "none"
	if !last.IsZero() {
		lastDead = last.Sub(promoted).Round(time.Millisecond).String() + " after promotion"
	}
	t.Logf("failover: promotion %s after the fault; first new write %s after the fault (%s after promotion); leaders at end %v",
		promoted.Sub(failedAt).Round(time.Millisecond), written.Sub(failedAt).Round(time.Millisecond),
		written.Sub(promoted).Round(time.Millisecond), leaders)
	t.Logf("dead reads: %d in all, last %s; %d after promotion+%s", all, lastDead, after, settleBound)
	if after > 0 {
		t.Errorf("%d dead tokens handed to readers more than %s after the promotion", after, settleBound)
	}
}

// TestSentinel_failoverCommand: SENTINEL FAILOVER while three replicas
// refresh and two readers read.
func TestSentinel_failoverCommand(t *testing.T) {
	t.Parallel()
	s, f := startSentinelFleet(t, redisserver.SentinelOptions{})
	preMax, _ := f.meta.snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	failedAt := time.Now()
	if err := s.Failover(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.WaitNewMaster(20*time.Second, s.Master.Addr); got != s.Replica.Addr {
		t.Fatalf("new master %s, want %s", got, s.Replica.Addr)
	}
	checkRecovery(t, f, failedAt, time.Now(), preMax)
}

// TestSentinel_shutdownLosesWrites: the replica is partitioned from the
// master, the leader fetches and writes a new token that only the master
// has, then the master dies (SHUTDOWN NOSAVE NOW) and the stale replica is
// promoted. The lost write's token is the upstream's newest, so the one
// Redis still holds dies Overlap later: readers report it and the new term
// fetches again; tickets keep growing past the lost one.
func TestSentinel_shutdownLosesWrites(t *testing.T) {
	t.Parallel()
	s, f := startSentinelFleet(t, redisserver.SentinelOptions{ProxyReplication: true})
	keys, _ := store.NewKeys("")
	mc, rc := s.Master.Client(), s.Replica.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	s.ReplProxy.Cut()
	replTicket, err := rc.HGet(ctx, keys.Meta(app), "ticket").Int64()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := mc.Get(ctx, keys.Token(app)).Result()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := store.New(store.Config{Client: mc})
	if err != nil {
		t.Fatal(err)
	}
	if err := ms.Report(ctx, app, tok); err != nil { // makes the leader fetch now
		t.Fatal(err)
	}
	var lost int64
	wait.For(t, 5*time.Second, "a write that only the master has", func() bool {
		lost, _ = mc.HGet(ctx, keys.Meta(app), "ticket").Int64()
		return lost > replTicket
	})
	// Checked before the shutdown: once promoted, the new term may write at
	// once and the replica's ticket no longer tells anything.
	if got, _ := rc.HGet(ctx, keys.Meta(app), "ticket").Int64(); got >= lost {
		t.Fatalf("the replica has ticket %d >= %d: the write was not held back", got, lost)
	}
	failedAt := time.Now()
	_ = mc.Do(ctx, "shutdown", "nosave", "now").Err() // the connection drops
	if got := s.WaitNewMaster(20*time.Second, s.Master.Addr); got != s.Replica.Addr {
		t.Fatalf("new master %s, want %s", got, s.Replica.Addr)
	}
	promoted := time.Now()
	t.Logf("lost write: ticket %d; the promoted replica had %d", lost, replTicket)
	checkRecovery(t, f, failedAt, promoted, lost)
}
