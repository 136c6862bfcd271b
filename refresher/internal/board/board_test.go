package board

import (
	"testing"
	"time"
)

var t0 = time.Unix(10_000, 0)

// startAll starts every check due at now and returns the ids with hints.
func startAll(b *Board, now time.Time) map[string]bool {
	got := map[string]bool{}
	for {
		id, _, hint, ok := b.Start(now, 100)
		if !ok {
			return got
		}
		got[id] = hint
	}
}

func TestBoard_sweepAndWorkers(t *testing.T) {
	b := New([]string{"a", "b", "c"}, nil, t0)
	if id, _, hint, ok := b.Start(t0, 2); !ok || !hint || !b.Running(id) {
		t.Fatalf("first start: %s %v %v", id, hint, ok)
	}
	b.Start(t0, 2)
	if _, _, _, ok := b.Start(t0, 2); ok {
		t.Fatal("a third check started with two workers")
	}
	if d := b.NextIn(t0, 2, time.Minute); d != time.Minute {
		t.Fatalf("NextIn with every worker busy = %s, want the limit", d)
	}
	if d := b.NextIn(t0, 3, time.Minute); d != 0 {
		t.Fatalf("NextIn with a due check and a free worker = %s, want 0", d)
	}
}

// TestBoard_results: what each kind of result does to the next check.
func TestBoard_results(t *testing.T) {
	later := t0.Add(time.Minute)
	for _, tc := range []struct {
		name string
		res  Result
		// after the result: a report at t0+1s wakes the check at wantAt
		// (zero: the report is ignored, the check stays at res.Next)
		wantAt   time.Time
		wantHint bool
	}{
		{"success: a report wakes it", Result{Next: later}, t0.Add(time.Second), true},
		{"failure: blocked until its retry time", Result{Next: later, Failed: true}, later, true},
		{"rollover hold: blocked until next", Result{Next: later, Hold: true}, later, true},
		{"report in the cooldown: ignored (the held report stays hinted)", Result{Next: later, CooldownUntil: later}, time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New([]string{"a"}, nil, t0)
			startAll(b, t0)
			tc.res.ID = "a"
			b.Finish(tc.res, t0)
			b.Reported("a", t0.Add(time.Second))
			want := tc.wantAt
			if want.IsZero() {
				want = later
			}
			if at, _ := b.due.At("a"); !at.Equal(want) {
				t.Fatalf("due at %s, want %s", at.Sub(t0), want.Sub(t0))
			}
			if b.hinted["a"] != tc.wantHint {
				t.Fatalf("hinted %v, want %v", b.hinted["a"], tc.wantHint)
			}
		})
	}
}

func TestBoard_attemptsAndRecheck(t *testing.T) {
	b := New([]string{"a"}, nil, t0)
	for i := range 3 {
		id, attempts, _, ok := b.Start(t0.Add(time.Hour*time.Duration(i)), 1)
		if !ok || attempts != i {
			t.Fatalf("start %d: %s attempts %d, want %d", i, id, attempts, i)
		}
		b.Finish(Result{ID: "a", Next: t0, Transient: true, Failed: true}, t0)
	}
	b.Start(t0.Add(10*time.Hour), 1)
	b.Wake("a", t0) // an event while running: checked again right after
	b.Finish(Result{ID: "a", Next: t0.Add(time.Hour)}, t0)
	if at, _ := b.due.At("a"); !at.Equal(t0) || !b.hinted["a"] {
		t.Fatalf("recheck: due at %s hinted %v, want now with a hint", at.Sub(t0), b.hinted["a"])
	}
	if _, attempts, _, _ := b.Start(t0, 1); attempts != 0 {
		t.Fatalf("attempts %d after a success, want 0", attempts)
	}
	b.Wake("ghost", t0)
	b.Reported("ghost", t0)
	if _, ok := b.due.At("ghost"); ok {
		t.Fatal("an unknown id was scheduled")
	}
}

// TestBoard_parent: a ticket waiting for its parent is woken by the
// parent's write; one that is not waiting is left alone; one that runs is
// checked again after; a result naming a parent wakes it with a hint.
func TestBoard_parent(t *testing.T) {
	b := New([]string{"p", "p:jsapi", "p:wx_card"}, map[string][]string{"p": {"p:jsapi", "p:wx_card"}}, t0)
	startAll(b, t0)
	later := t0.Add(time.Hour)
	b.Finish(Result{ID: "p", Next: later}, t0)
	b.Finish(Result{ID: "p:jsapi", Next: later, WaitParent: true, Wake: "p"}, t0)
	b.Finish(Result{ID: "p:wx_card", Next: later}, t0)
	if at, _ := b.due.At("p"); !at.Equal(t0) || !b.hinted["p"] {
		t.Fatalf("the parent: due at %s hinted %v, want now with a hint", at.Sub(t0), b.hinted["p"])
	}
	b.ParentWritten("p", t0.Add(time.Second))
	if at, _ := b.due.At("p:jsapi"); !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("the waiting ticket is due at %s, want at the write", at.Sub(t0))
	}
	if at, _ := b.due.At("p:wx_card"); !at.Equal(later) {
		t.Fatalf("a ticket not waiting was woken: due at %s", at.Sub(t0))
	}
	// A ticket whose check runs when the parent is written: checked again.
	startAll(b, t0.Add(time.Second))
	b.ParentWritten("p", t0.Add(2*time.Second))
	b.Finish(Result{ID: "p:jsapi", Next: later, WaitParent: true}, t0.Add(3*time.Second))
	if at, _ := b.due.At("p:jsapi"); !at.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("the ticket checked during the write is due at %s, want at once", at.Sub(t0))
	}
}
