package ha

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store"
)

const clusterRun = 9 * time.Second // two to three refresh cycles

func startClusterFleet(t *testing.T, ack store.Config) (*redisserver.Cluster, *fleet) {
	c := redisserver.StartCluster(t, redisserver.ClusterOptions{ReplicasPerMaster: 1})
	newClient := func() redis.UniversalClient {
		return redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs:       c.Addrs(),
			DialTimeout: redisTimeout, ReadTimeout: redisTimeout, WriteTimeout: redisTimeout,
			MaxRetries: 1, MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond,
		})
	}
	if _, ok := newClient().(*redis.ClusterClient); !ok {
		t.Fatal("NewUniversalClient with several addrs did not return a cluster client")
	}
	f := newFleet(t, newClient)
	f.observe()
	f.startReplicas(3, ack)
	f.startReaders()
	f.waitFirstToken(10 * time.Second)
	return c, f
}

// checkSteady checks the steady-state invariants: no dead read at all, every
// upstream fetch became the stored token, and one fetch per refresh cycle.
func checkSteady(t *testing.T, f *fleet, ran time.Duration) {
	t.Helper()
	_, all, _ := f.reads.deadAfter(time.Time{})
	gap := f.meta.shortestGap()
	f.finish()
	fetches := f.fake.Audit().Fetches[appID+"/token"]
	_, distinct := f.meta.snapshot()
	t.Logf("ran %s: %d fetches, %d tokens stored, shortest time between two new tokens %s (cycle >= %s), %d dead reads",
		ran.Round(time.Millisecond), fetches, distinct, gap.Round(time.Millisecond), minCycle, all)
	if all > 0 {
		t.Errorf("%d dead tokens handed to readers", all)
	}
	if fetches != distinct {
		t.Errorf("%d upstream fetches but %d tokens stored: a fetch was wasted", fetches, distinct)
	}
	if distinct > 1 && gap < minCycle-100*time.Millisecond {
		t.Errorf("two tokens %s apart: more than one fetch in a refresh cycle", gap)
	}
	if most := int(ran/minCycle) + 1; fetches > most {
		t.Errorf("%d fetches in %s, at most %d expected", fetches, ran, most)
	}
}

// TestCluster_steadyState: three replicas on a 3-master cluster (with a
// replica each), every ticket and write acknowledged by one replica (WAIT).
func TestCluster_steadyState(t *testing.T) {
	t.Parallel()
	_, f := startClusterFleet(t, store.Config{MinReplicasAck: 1, WaitTimeout: 200 * time.Millisecond})
	wait.Hold(t, clusterRun, "steady state on the cluster, readers checking")
	checkSteady(t, f, f.since())
}

// TestCluster_failover: CLUSTER FAILOVER of the master serving the
// {tokend} slot in the middle of the steady state.
func TestCluster_failover(t *testing.T) {
	t.Parallel()
	c, f := startClusterFleet(t, store.Config{})
	start := time.Now()
	wait.Hold(t, clusterRun/3, "steady state before the failover")
	keys, _ := store.NewKeys("")
	preMax, _ := f.meta.snapshot()
	failedAt := time.Now()
	old, nu := c.Failover(keys.Lease())
	switched := time.Now()
	t.Logf("CLUSTER FAILOVER %s -> %s took %s (until the cluster agreed)", old, nu, switched.Sub(failedAt).Round(time.Millisecond))
	wait.Until(t, start.Add(clusterRun), "the rest of the run after the failover, readers checking")
	if at, ok := f.meta.firstAbove(preMax); ok && at.After(failedAt) {
		t.Logf("first new write %s after the failover started", at.Sub(failedAt).Round(time.Millisecond))
	}
	checkSteady(t, f, f.since())
}
