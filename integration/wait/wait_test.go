package wait

import (
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records Fatalf instead of stopping.
type recorder struct {
	testing.TB
	failed atomic.Bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Logf(string, ...any)   {}
func (r *recorder) Fatalf(string, ...any) { r.failed.Store(true) }

func TestPoll(t *testing.T) {
	var n atomic.Int32
	took, ok := Poll(time.Second, func() bool { return n.Add(1) >= 3 })
	if !ok || n.Load() != 3 || took >= time.Second {
		t.Fatalf("Poll = %s, %v after %d calls; want true on the third", took, ok, n.Load())
	}
	took, ok = Poll(20*time.Millisecond, func() bool { return false })
	if ok || took != 20*time.Millisecond {
		t.Fatalf("Poll of a false condition = %s, %v; want the timeout, false", took, ok)
	}
}

func TestFor_timeoutFails(t *testing.T) {
	r := &recorder{TB: t}
	For(r, 10*time.Millisecond, "never", func() bool { return false })
	if !r.failed.Load() {
		t.Fatal("For did not fail on a condition that never held")
	}
	r = &recorder{TB: t}
	For(r, time.Second, "now", func() bool { return true })
	if r.failed.Load() {
		t.Fatal("For failed on a condition that held")
	}
}

func TestHolds(t *testing.T) {
	r := &recorder{TB: t}
	Holds(r, 10*time.Millisecond, "always", func() bool { return true })
	if r.failed.Load() {
		t.Fatal("Holds failed on a condition that always held")
	}
	var n atomic.Int32
	r = &recorder{TB: t}
	Holds(r, time.Second, "twice", func() bool { return n.Add(1) <= 2 })
	if !r.failed.Load() {
		t.Fatal("Holds did not fail when the condition stopped holding")
	}
}
