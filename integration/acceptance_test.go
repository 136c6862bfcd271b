package integration

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"
)

// TestAcceptance_3Replicas_100TokenLifetimes is issue 4's acceptance test:
// three tokend processes on one real redis-server with the fake upstream
// (token lifetime 1s, overlap 250ms) for 100 token lifetimes. tokend
// refreshes at half life, so that is about 200 refresh cycles: fetches must
// equal refresh cycles (token writes), +1 for a fetch in flight at the end,
// the cycles must follow the half-life schedule, and no reader (plain GET or
// reader.Reader) may be handed a dead token.
//
// TOKEND_IT_LIFETIMES overrides the number of lifetimes (e.g. 20 for a
// quick run).
func TestAcceptance_3Replicas_100TokenLifetimes(t *testing.T) {
	const lifetime = time.Second
	lifetimes := 100
	if s := os.Getenv("TOKEND_IT_LIFETIMES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TOKEND_IT_LIFETIMES=%q: want a positive number", s)
		}
		lifetimes = n
	}
	e := newEnv(t, envOptions{Lifetime: lifetime, Overlap: 250 * time.Millisecond})
	e.cluster.Start(3)
	leader, _ := e.cluster.WaitLeader(5*time.Second, nil)
	v0 := e.waitVersion(0, 5*time.Second)
	chk := e.checker(false)
	f0, start := e.fetches(), time.Now()

	deadline := start.Add(time.Duration(lifetimes) * lifetime)
	leaders := 0
	for time.Now().Before(deadline) {
		wait.Hold(t, min(5*time.Second, time.Until(deadline)), "a slice of the acceptance run between leader counts")
		if ls := e.cluster.Leaders(nil); len(ls) > 1 {
			t.Errorf("%d replicas claim to lead at %s", len(ls), time.Since(start).Round(time.Second))
		}
		leaders++
	}
	st := chk.Stop()
	elapsed := time.Since(start)
	writes, fetches := int(e.version()-v0), e.fetches()-f0
	audit := e.srv.Audit()

	t.Logf("figures: %d lifetimes of %s in %s, leader %s; fetches=%d refresh cycles(writes)=%d (%.2f per lifetime); dead=%d; audit: issued=%d superseded-calls=%d expired-calls=%d; %s",
		lifetimes, lifetime, elapsed.Round(time.Millisecond), leader.ID, fetches, writes, float64(writes)/float64(lifetimes),
		st.DeadTotal(), audit.Issued[upstream+"/token"], audit.Superseded, audit.Expired, st)
	assertFetches(t, fetches, writes, 1, elapsed, lifetime, 0)
	assertNoDead(t, st)
	// An expired call is excused only where the token lived when the
	// reader read it (harness PathStats.Late: a stall between read and use
	// longer than the compressed refresh margin); the late ones are logged.
	if audit.Superseded != 0 || int64(audit.Expired) != st.Lib.Late {
		t.Errorf("the fake's protected API saw %d superseded and %d expired tokens (%d of them alive when read), want 0 and only those",
			audit.Superseded, audit.Expired, st.Lib.Late)
	}
	if st.Get.Empty+st.Lib.Empty != 0 {
		t.Errorf("readers found no token %d times in steady state", st.Get.Empty+st.Lib.Empty)
	}
}
