package reader

import "time"

// logEvery bounds how often a repeated problem is logged again.
const logEvery = time.Minute

// repeatLimit decides when a repeated problem is logged: the first time,
// then at most once per logEvery with the count since the last line.
// Not safe for concurrent use: its owner serialises calls.
type repeatLimit struct {
	logged bool
	last   int64 // when the last line was logged, in the owner's nanoseconds
	count  int   // occurrences since the last line
}

// note records one occurrence at now and says whether to log it, and how
// many occurrences (this one included) the line stands for.
func (l *repeatLimit) note(now int64) (emit bool, count int) {
	l.count++
	if l.logged && now-l.last < int64(logEvery) {
		return false, 0
	}
	l.logged, l.last = true, now
	count, l.count = l.count, 0
	return true, count
}
