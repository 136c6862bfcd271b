// Package wait is how every test in the module waits: poll a condition
// until it holds (For, Poll), check that one keeps holding (Holds), or let
// real time pass on purpose (Hold). It imports nothing from tokend, so the
// tests of any package (store, lock, refresher, cmd) can use it without an
// import cycle.
//
// A test waits for the condition it is about, never for a guessed duration:
// the suite runs with -race on busy 2-core machines. Hold is the one
// exception, for observation windows where the assertion is about what did
// NOT happen while real time passed, or where real processes must run for a
// while (chaos windows, a steady state of several refresh cycles). Timing
// logic that takes a clock is tested with the injected fake clock or
// testing/synctest instead.
package wait

import (
	"testing"
	"time"
)

// Interval is how often For, Poll and Holds evaluate their condition.
const Interval = 5 * time.Millisecond

// Poll evaluates cond every Interval until it holds or timeout passes, and
// reports how long that took and whether it held. Unlike For it does not
// touch a testing.TB, so any goroutine may call it.
func Poll(timeout time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) >= timeout {
			return timeout, false
		}
		time.Sleep(Interval)
	}
}

// For polls cond until it holds and returns how long that took; after
// timeout it fails tb, naming what it waited for. Call it from the test's
// goroutine (it calls tb.Fatalf).
func For(tb testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	took, ok := Poll(timeout, cond)
	if !ok {
		tb.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
	return took
}

// Holds checks that cond holds throughout d (evaluated every Interval and
// once more at the end) and fails tb as soon as it does not.
func Holds(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		if !cond() {
			tb.Fatalf("%s stopped holding", what)
			return
		}
		if !time.Now().Before(deadline) {
			return
		}
		time.Sleep(Interval)
	}
}

// Hold lets d of real time pass on purpose and logs why (visible with -v
// or on failure). Use it only for a deliberate observation window, never to
// wait for something that can be polled with For.
func Hold(tb testing.TB, d time.Duration, why string) {
	tb.Helper()
	if d <= 0 {
		return
	}
	tb.Logf("wait: holding %s: %s", d.Round(time.Millisecond), why)
	time.Sleep(d)
}

// Until holds until t (a no-op when t has passed): Hold for a window that
// ends at a fixed instant.
func Until(tb testing.TB, t time.Time, why string) {
	tb.Helper()
	Hold(tb, time.Until(t), why)
}
