package refresher

import (
	"container/heap"
	"time"
)

// schedule holds each app's next check time with a min-heap over them, so
// that finding due apps costs O(log n) per app, not a scan of every app.
// Stale heap entries (an app rescheduled since) are skipped lazily. Not
// safe for concurrent use: only the leader loop touches it.
type schedule struct {
	due  map[string]time.Time
	heap dueHeap
}

type dueEntry struct {
	at  time.Time
	app string
}

type dueHeap []dueEntry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueEntry)) }
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func newSchedule() *schedule { return &schedule{due: map[string]time.Time{}} }

// set schedules app at t, replacing any earlier schedule.
func (s *schedule) set(app string, t time.Time) {
	s.due[app] = t
	heap.Push(&s.heap, dueEntry{at: t, app: app})
}

// remove unschedules app (it is running).
func (s *schedule) remove(app string) { delete(s.due, app) }

// at returns app's scheduled time.
func (s *schedule) at(app string) (time.Time, bool) {
	t, ok := s.due[app]
	return t, ok
}

// peek returns the earliest scheduled entry, dropping stale ones.
func (s *schedule) peek() (dueEntry, bool) {
	for s.heap.Len() > 0 {
		e := s.heap[0]
		if t, ok := s.due[e.app]; ok && t.Equal(e.at) {
			return e, true
		}
		heap.Pop(&s.heap)
	}
	return dueEntry{}, false
}

// popDue removes and returns the earliest app due at or before now.
func (s *schedule) popDue(now time.Time) (string, bool) {
	e, ok := s.peek()
	if !ok || e.at.After(now) {
		return "", false
	}
	heap.Pop(&s.heap)
	delete(s.due, e.app)
	return e.app, true
}
