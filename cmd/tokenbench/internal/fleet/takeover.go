package fleet

import (
	"context"
	"errors"
	"syscall"
	"time"
)

// Takeover signals the leader and returns the time from the signal
// until another replica has started a new term (the lock writes the epoch
// hash right after obtaining the lease). The signalled replica is then
// restarted as a standby. leaseTTL bounds the wait (3 x + 5 s).
func (d *Deployment) Takeover(ctx context.Context, sig syscall.Signal, lt time.Duration) (time.Duration, error) {
	old, term, err := d.WaitLeader(ctx, 3*lt+5*time.Second)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := old.Proc.Signal(sig); err != nil {
		return 0, err
	}
	deadline := start.Add(3*lt + 5*time.Second)
	var took time.Duration
	for took == 0 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, errors.New("no new leader within " + (3*lt + 5*time.Second).String())
		}
		l, err := d.Fleet.Leader(ctx)
		if err == nil && l.Held && l.Epoch > term.Epoch && l.ID != old.ID {
			took = time.Since(start)
			break
		}
		time.Sleep(500 * time.Microsecond)
	}
	old.Proc.Stop(sig, 10*time.Second) // waits for the (graceful) exit, kills after 10 s
	if err := old.Start(d.Env); err != nil {
		return 0, err
	}
	if err := old.WaitReady(ctx, d.Env.HTTP, 20*time.Second); err != nil {
		return 0, err
	}
	time.Sleep(300 * time.Millisecond) // let it subscribe to release announcements
	return took, nil
}
