package sched

import (
	"fmt"
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	s := New()
	t0 := time.Unix(1000, 0)
	s.Set("a", t0.Add(3*time.Second))
	s.Set("b", t0.Add(time.Second))
	s.Set("c", t0.Add(2*time.Second))
	s.Set("b", t0.Add(5*time.Second)) // rescheduled: the old entry is stale
	if _, ok := s.PopDue(t0); ok {
		t.Fatal("nothing is due at t0")
	}
	if e, _ := s.Peek(); e.ID != "c" {
		t.Fatalf("earliest = %s, want c (b's old entry is stale)", e.ID)
	}
	var got []string
	for {
		id, ok := s.PopDue(t0.Add(5 * time.Second))
		if !ok {
			break
		}
		got = append(got, id)
	}
	if fmt.Sprint(got) != "[c a b]" {
		t.Fatalf("order %v, want [c a b]", got)
	}
	s.Set("d", t0)
	s.Remove("d")
	if _, ok := s.Peek(); ok {
		t.Fatal("removed id still scheduled")
	}
	if _, ok := s.At("d"); ok {
		t.Fatal("removed id has a time")
	}
}
