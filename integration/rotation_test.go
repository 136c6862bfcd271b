package integration

import (
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"
)

// TestRotation_outOfBand: someone else fetches a classic token, so the
// stored one dies at the upstream after the overlap. Readers are handed it
// (the scenario kills the token itself), get 40001 and report it; the
// leader fetches exactly once, and readers stop getting dead tokens within
// healBound of the token's death.
func TestRotation_outOfBand(t *testing.T) {
	const (
		lifetime  = 6 * time.Second
		overlap   = 300 * time.Millisecond
		healBound = time.Second
	)
	e := newEnv(t, envOptions{Lifetime: lifetime, Overlap: overlap})
	e.cluster.Start(3)
	e.cluster.WaitLeader(5*time.Second, nil)
	v := e.waitVersion(0, 5*time.Second)
	chk := e.checker(true)
	v = e.waitVersion(v, lifetime) // next proactive refresh is lifetime/2 away
	wait.Hold(t, 200*time.Millisecond, "the refresh settles: readers on the new token")

	f0 := e.fetches()
	rotated := time.Now()
	if e.srv.Rotate(upstream) == "" {
		t.Fatal("Rotate: unknown appid")
	}
	died := rotated.Add(overlap)
	healed := wait.For(t, 3*time.Second, "a token write after the rotation", func() bool { return e.version() > v })
	wait.Hold(t, time.Second, "readers settle on the new token; still before the next proactive refresh")
	st := chk.Stop()
	fetches, writes := e.fetches()-f0, int(e.version()-v)
	window := time.Since(rotated)

	var lastDead time.Time
	for _, p := range []time.Time{st.Get.LastDead, st.Lib.LastDead} {
		if p.After(lastDead) {
			lastDead = p
		}
	}
	t.Logf("figures: rotation->write %s, token died at +%s, last dead read at +%s (bound +%s), fetches in %s=%d writes=%d, dead reads=%d (healing path); %s",
		ms(healed), ms(overlap), ms(lastDead.Sub(rotated)), ms(overlap+healBound), ms(window), fetches, writes, st.DeadTotal(), st)
	if fetches != 1 || writes != 1 {
		t.Errorf("fetches = %d, writes = %d after the rotation, want exactly 1 each (the reports collapse into one fetch)", fetches, writes)
	}
	if st.DeadTotal() == 0 {
		t.Errorf("no reader saw the rotated-out token die: the scenario did not happen")
	}
	if !lastDead.IsZero() && lastDead.Sub(died) > healBound {
		t.Errorf("readers were still handed the dead token %s after it died, want <= %s", lastDead.Sub(died), healBound)
	}
	for code := range st.Get.DeadByCode {
		if code != 40001 {
			t.Errorf("dead reads with errcode %d, want only 40001", code)
		}
	}
}
