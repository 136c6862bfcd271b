package reader

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// reportEvery bounds how often one Reader sends a report of one (app,
// token), however many callers ask.
const reportEvery = time.Second

// waitKey names one shared wait: an app and the token reported for it.
type waitKey struct{ app, token string }

// sharedWait is the one report and the one loop re-reading Redis behind
// every ReportAndWait caller of one (app, token) in a Reader: Redis work
// per storm does not grow with the number of callers.
type sharedWait struct {
	ready chan struct{} // closed after the first report attempt
	err   error         // that attempt's error; written before ready closes
	done  chan struct{} // closed when the last caller left: the loop stops
	n     int           // callers attached; guarded by Reader.waitMu
}

// ReportAndWait reports token like ReportInvalid and waits, bounded by ctx,
// until the Reader holds a valid token other than it, which it returns.
// When the reported token was already replaced it returns the current one
// at once.
//
// Concurrent callers for one (app, token) share one report and one wait:
// while any of them waits, one loop re-reads the app from Redis every
// second (healing a missed event) and reports again only when the pending
// report no longer names the token (a report of an older token replaced
// it, and the leader dropped that as stale), at most once a second. So
// the Redis commands of a storm do not grow with the number of waiters.
func (r *Reader) ReportAndWait(ctx context.Context, app, token string) (Token, error) {
	e, err := r.reportEntry(app, token)
	if err != nil {
		return Token{}, err
	}
	if e == nil {
		e, _ = r.entry(app)
		return e.cur.Load().tok, nil
	}
	k := waitKey{app, token}
	w, ok := r.joinWait(e, k)
	if !ok {
		return Token{}, ErrClosed
	}
	defer r.leaveWait(k, w)
	select {
	case <-w.ready:
		if w.err != nil {
			return Token{}, w.err
		}
	case <-ctx.Done():
		return Token{}, fmt.Errorf("reader: waiting for a new token: %w", ctx.Err())
	case <-r.ctx.Done():
		return Token{}, ErrClosed
	}
	for {
		c := e.cur.Load()
		if c.valid(r.now()) && c.tok.Value != token {
			return c.tok, nil
		}
		select {
		case <-c.changed:
		case <-ctx.Done():
			return Token{}, fmt.Errorf("reader: waiting for a new token: %w", ctx.Err())
		case <-r.ctx.Done():
			return Token{}, ErrClosed
		}
	}
}

// reportEntry validates a report and returns app's entry, or nil when the
// cached token is valid and differs from token (the report is stale).
func (r *Reader) reportEntry(app, token string) (*entry, error) {
	if token == "" {
		return nil, errors.New("reader: report needs the rejected token")
	}
	e, err := r.entry(app)
	if err != nil {
		return nil, err
	}
	if c := e.cur.Load(); c.valid(r.now()) && c.tok.Value != token {
		return nil, nil
	}
	return e, nil
}

// joinWait attaches a caller to the shared wait of k, starting it (its
// loop in a goroutine Close waits for) if none runs; false once closed.
func (r *Reader) joinWait(e *entry, k waitKey) (*sharedWait, bool) {
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	if w := r.waits[k]; w != nil {
		w.n++
		return w, true
	}
	w := &sharedWait{ready: make(chan struct{}), done: make(chan struct{}), n: 1}
	if !r.spawn(func(ctx context.Context) { r.driveWait(ctx, e, k, w) }) {
		return nil, false
	}
	if r.waits == nil {
		r.waits = make(map[waitKey]*sharedWait)
	}
	r.waits[k] = w
	return w, true
}

// leaveWait detaches a caller; the last one stops the loop.
func (r *Reader) leaveWait(k waitKey, w *sharedWait) {
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	if w.n--; w.n == 0 && r.waits[k] == w {
		delete(r.waits, k)
		close(w.done)
	}
}

// endWait removes w when its loop ends on its own (token replaced, or the
// first report failed): later callers start a new one.
func (r *Reader) endWait(k waitKey, w *sharedWait) {
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	if r.waits[k] == w {
		delete(r.waits, k)
	}
}

// driveWait is the loop of one shared wait: the first report, then until
// the token is replaced or no caller waits, a re-read every waitPoll and a
// new report when the pending one no longer names the token.
func (r *Reader) driveWait(ctx context.Context, e *entry, k waitKey, w *sharedWait) {
	rctx, cancel := context.WithTimeout(ctx, loadTimeout)
	w.err = r.sendReport(rctx, k.app, k.token)
	cancel()
	if w.err != nil {
		r.endWait(k, w)
		close(w.ready)
		return
	}
	close(w.ready)
	poll := time.NewTicker(waitPoll)
	defer poll.Stop()
	for {
		c := e.cur.Load()
		if c.valid(r.now()) && c.tok.Value != k.token {
			r.endWait(k, w)
			return
		}
		select {
		case <-c.changed:
		case <-poll.C:
			r.waitPolls.Add(1)
			r.pollWait(ctx, e, k, w.done)
		case <-w.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

// pollWait re-reads e and reports k again if its report is gone, unless
// the last caller left meanwhile (done closed): a report nobody waits for
// any more would outlive the request that made it.
func (r *Reader) pollWait(ctx context.Context, e *entry, k waitKey, done <-chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	if err := r.load(ctx, e); err != nil && !errors.Is(err, ErrNoToken) && ctx.Err() == nil {
		r.log.Debug("reload while waiting failed", "app", k.app, "err", err)
	}
	if c := e.cur.Load(); c.valid(r.now()) && c.tok.Value != k.token {
		return
	}
	// The reports hash keeps one token per app: a late report of an older
	// token may have replaced ours, and the leader drops that as stale.
	// A client whose ACL cannot read the reports hash reports again.
	if pending, err := r.store.PendingReport(ctx, k.app); err == nil && pending == k.token {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	if err := r.sendReport(ctx, k.app, k.token); err != nil && ctx.Err() == nil {
		r.log.Debug("report while waiting failed", "app", k.app, "err", err)
	}
}

// sendReport sends Records.Report of (app, token) unless this Reader sent
// one less than reportEvery ago; concurrent calls share one.
func (r *Reader) sendReport(ctx context.Context, app, token string) error {
	k := waitKey{app, token}
	_, err, _ := r.reports.Do(app+"\x00"+token, func() (any, error) {
		now := r.now()
		r.waitMu.Lock()
		last, ok := r.reported[k]
		r.waitMu.Unlock()
		if ok && now-last < int64(reportEvery) {
			return nil, nil
		}
		if err := r.store.Report(ctx, app, token); err != nil {
			return nil, err
		}
		r.waitMu.Lock()
		defer r.waitMu.Unlock()
		if r.reported == nil {
			r.reported = make(map[waitKey]int64)
		}
		for old, at := range r.reported { // keep the map small: drop expired entries
			if now-at >= int64(reportEvery) {
				delete(r.reported, old)
			}
		}
		r.reported[k] = now
		return nil, nil
	})
	return err
}
