// Package sched is the leader's schedule: each credential's next time
// with a min-heap over them, so that finding due ones costs O(log n) each,
// not a scan of every credential. It decides nothing about when a
// credential is due (package plan does) and is not safe for concurrent
// use: only the leader loop touches it.
package sched

import (
	"container/heap"
	"time"
)

// Schedule holds each id's next time. Stale heap entries (an id
// rescheduled since) are skipped lazily.
type Schedule struct {
	due  map[string]time.Time
	heap dueHeap
}

// Entry is one scheduled id.
type Entry struct {
	At time.Time
	ID string
}

type dueHeap []Entry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].At.Before(h[j].At) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(Entry)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// New returns an empty Schedule.
func New() *Schedule { return &Schedule{due: map[string]time.Time{}} }

// Set schedules id at t, replacing any earlier schedule.
func (s *Schedule) Set(id string, t time.Time) {
	s.due[id] = t
	heap.Push(&s.heap, Entry{At: t, ID: id})
}

// Remove unschedules id.
func (s *Schedule) Remove(id string) { delete(s.due, id) }

// At returns id's scheduled time.
func (s *Schedule) At(id string) (time.Time, bool) {
	t, ok := s.due[id]
	return t, ok
}

// Peek returns the earliest scheduled entry, dropping stale ones.
func (s *Schedule) Peek() (Entry, bool) {
	for s.heap.Len() > 0 {
		e := s.heap[0]
		if t, ok := s.due[e.ID]; ok && t.Equal(e.At) {
			return e, true
		}
		heap.Pop(&s.heap)
	}
	return Entry{}, false
}

// PopDue removes and returns the earliest id due at or before now.
func (s *Schedule) PopDue(now time.Time) (string, bool) {
	e, ok := s.Peek()
	if !ok || e.At.After(now) {
		return "", false
	}
	heap.Pop(&s.heap)
	delete(s.due, e.ID)
	return e.ID, true
}
