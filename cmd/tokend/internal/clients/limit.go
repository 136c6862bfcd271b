package clients

import "time"

// bucket is a token bucket: capacity burst, one token added every per.
// Set.mu guards it.
type bucket struct {
	burst  int
	per    time.Duration
	tokens float64
	last   time.Time
}

func newBucket(burst int, per time.Duration, now time.Time) *bucket {
	return &bucket{burst: burst, per: per, tokens: float64(burst), last: now}
}

// take takes one token of b at the clock's now: 0 when there was one, else
// how long until there is.
func (s *Set) take(b *bucket) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return b.take(s.clock.Now())
}

// take is the decision on plain values: refill for the time since last
// (a clock going back refills nothing), then take one token or say when
// one will be there.
func (b *bucket) take(now time.Time) time.Duration {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(float64(b.burst), b.tokens+float64(el)/float64(b.per))
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	// Rounded up to the millisecond: float error never makes it early.
	wait := time.Duration((1 - b.tokens) * float64(b.per))
	return max((wait + time.Millisecond - 1).Truncate(time.Millisecond), time.Millisecond)
}
