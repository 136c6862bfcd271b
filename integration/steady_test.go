package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"
)

// TestSteady: 3 and 7 replicas on one Redis keep one token fresh with one
// upstream fetch per refresh cycle (fetches per lifetime stay 2, the
// half-life schedule, whatever the number of replicas), and no reader is
// handed a dead token.
func TestSteady(t *testing.T) {
	for _, n := range []int{3, 7} {
		t.Run(fmt.Sprintf("replicas=%d", n), func(t *testing.T) {
			const lifetime = 2 * time.Second
			e := newEnv(t, envOptions{Lifetime: lifetime, Overlap: 500 * time.Millisecond})
			e.cluster.Start(n)
			leader, _ := e.cluster.WaitLeader(5*time.Second, nil)
			v0 := e.waitVersion(0, 5*time.Second)
			f0, start := e.fetches(), time.Now()
			chk := e.checker(false)
			wait.Hold(t, 6*time.Second, "three refresh cycles of steady state, readers checking")
			st := chk.Stop()
			elapsed := time.Since(start)
			writes, fetches := int(e.version()-v0), e.fetches()-f0
			if ls := e.cluster.Leaders(nil); len(ls) != 1 {
				t.Errorf("leaders at the end: %d, want 1", len(ls))
			}
			t.Logf("figures: replicas=%d leader=%s elapsed=%s fetches=%d cycles(writes)=%d dead=%d; %s",
				n, leader.ID, ms(elapsed), fetches, writes, st.DeadTotal(), st)
			assertFetches(t, fetches, writes, 1, elapsed, lifetime, 0)
			assertNoDead(t, st)
		})
	}
}
