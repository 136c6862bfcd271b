package memo

import (
	"testing"
	"time"

	"github.com/tokend/tokend/refresher/internal/plan"
	"github.com/tokend/tokend/store"
)

func TestMemo_pendingAndLost(t *testing.T) {
	now := time.Unix(10_000, 0)
	w := store.Write{App: "a", Ticket: store.Ticket{N: 5, IssuedAt: now}, Token: "t5", ExpiresIn: time.Hour}
	rec := func(ticket int64, at time.Time) store.Record {
		return store.Record{App: "a", Ticket: ticket, Version: 1, Now: at}
	}
	for _, tc := range []struct {
		name        string
		rec         store.Record
		pending     bool // still to be written before anything else
		thenWritten bool // remembered as written afterwards
	}{
		{"newer than the stored one: write it", rec(4, now), true, false},
		{"already stored (the answer was lost): written", rec(5, now), false, true},
		{"superseded: dropped", rec(6, now), false, false},
		{"expired: dropped", rec(4, now.Add(2*time.Hour)), false, false},
	} {
		m := New()
		m.SetPending(w)
		if _, ok := m.Pending(tc.rec); ok != tc.pending {
			t.Errorf("%s: pending %v", tc.name, ok)
		}
		if _, ok := m.Lost(rec(4, now)); ok != tc.thenWritten {
			t.Errorf("%s: remembered as written %v", tc.name, ok)
		}
	}
	m := New()
	m.SetWritten(w)
	if got, ok := m.Lost(rec(4, now)); !ok || got.Token != "t5" {
		t.Fatal("a write Redis lost is not returned")
	}
	if _, ok := m.Lost(rec(4, now.Add(2*time.Hour))); ok {
		t.Fatal("an expired lost write is returned")
	}
	m.Forget("a", true)
	if _, ok := m.Lost(rec(4, now)); ok {
		t.Fatal("a forgotten write is returned")
	}
}

func TestMemo_planStatusRejected(t *testing.T) {
	m := New()
	m.SetPlan("a", Plan{Version: 2, Ticket: 7, Due: time.Unix(5, 0), Rollover: true})
	if p, ok := m.Plan(store.Record{App: "a", Version: 2, Ticket: 7}); !ok || !p.Rollover {
		t.Fatal("the plan of the stored version is lost")
	}
	if _, ok := m.Plan(store.Record{App: "a", Version: 2, Ticket: 8}); ok {
		t.Fatal("a plan applies to another write")
	}
	st := store.Status{LastError: "x"}
	if !m.StatusChanged("a", st) {
		t.Fatal("a first status is unchanged")
	}
	m.SetPublished("a", st)
	if m.StatusChanged("a", st) {
		t.Fatal("the same status is changed")
	}
	m.ForgetPublished()
	if !m.StatusChanged("a", st) {
		t.Fatal("a forgotten status is unchanged")
	}
	m.SetRejected("t", plan.Rejected{Token: "P1", Ticket: 3})
	if m.Rejected("t").Token != "P1" {
		t.Fatal("rejected parent token lost")
	}
	m.SetRejected("t", plan.Rejected{})
	if m.Rejected("t").Token != "" {
		t.Fatal("rejected parent token not cleared")
	}
	if prev := m.SetCorrupt("a", "e1"); prev != "" || m.SetCorrupt("a", "") != "e1" {
		t.Fatal("corrupt errors")
	}
}
