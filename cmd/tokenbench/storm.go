package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/cmd/tokenbench/internal/upstream"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/reader"
)

// stormCooldown is refresh.cooldown of the storm replicas.
const stormCooldown = time.Second

// stormResult is what the reporters of one storm got.
type stormResult struct {
	lat                figures.Durations // per reporter: storm start -> holds a new token
	stale, dead, errs  atomic.Int64
	firstErr           atomic.Value // string
	fetches, immediate int
	fetchAt            time.Duration // storm start -> the upstream answered the fetch
}

// finish counts the storm's upstream fetches, after a pause in which a
// late second fetch would show.
func (s *stormResult) finish(b *bench, before int, start time.Time) {
	time.Sleep(500 * time.Millisecond)
	s.fetches = b.slow.FetchCount(stormApp) - before
	for _, t := range b.slow.Fetches(stormApp) {
		if t.After(start) {
			s.fetchAt = t.Sub(start)
			break
		}
	}
}

func (s *stormResult) errorf(format string, args ...any) {
	s.errs.Add(1)
	s.firstErr.CompareAndSwap(nil, fmt.Sprintf(format, args...))
}

// check records the token a reporter ended up with.
func (s *stormResult) check(b *bench, bad, tok string, i int, start time.Time) {
	s.lat[i] = time.Since(start)
	switch {
	case tok == bad || tok == "":
		s.stale.Add(1)
	case upstream.IsDead(b.slow.Check(tok)):
		s.dead.Add(1)
	}
}

// afterCooldown waits until app's token is older than the cooldown (plus a
// margin), so that a report of it causes a fetch, and returns it.
func afterCooldown(ctx context.Context, d *fleet.Deployment, app string) (store.Record, error) {
	deadline := time.Now().Add(stormCooldown + 10*time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		rec, err := d.Store.Record(ctx, app)
		if err == nil && rec.Valid() && rec.Now.Sub(rec.FetchedAt) > stormCooldown+200*time.Millisecond {
			return rec, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return store.Record{}, errors.New("no token past the cooldown")
}

// httpStorm: opts.reports POST /v1/apps/storm/refresh of one token, spread
// over the replicas, through opts.conns connections.
func (b *bench) httpStorm(ctx context.Context, d *fleet.Deployment) error {
	rec, err := afterCooldown(ctx, d, stormApp)
	if err != nil {
		return err
	}
	bad := rec.Token
	body, _ := json.Marshal(map[string]string{"invalid_token": bad})
	tr := &http.Transport{MaxIdleConnsPerHost: b.opts.conns, MaxConnsPerHost: b.opts.conns, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	res := &stormResult{lat: make(figures.Durations, b.opts.reports)}
	var refreshed atomic.Int64
	before := b.slow.FetchCount(stormApp)
	reports, err := b.countReports(ctx, d)
	if err != nil {
		return err
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range b.opts.conns {
		wg.Go(func() {
			for i := range jobs {
				rep := d.Reps[i%len(d.Reps)]
				tok, fresh, err := b.postRefresh(ctx, hc, rep.Addr, body)
				if err != nil {
					res.errorf("%s: %v", rep.ID, err)
					res.lat[i] = time.Since(start)
					continue
				}
				if fresh {
					refreshed.Add(1)
				}
				res.check(b, bad, tok, i, start)
			}
		})
	}
	for i := range b.opts.reports {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	res.finish(b, before, start)
	res.immediate = b.opts.reports - int(refreshed.Load())
	b.stormRow(res, fmt.Sprintf("report storm over HTTP: %s reports, %d conns, %d replicas",
		figures.Int(int64(b.opts.reports)), b.opts.conns, len(d.Reps)),
		fmt.Sprintf("%s answered \"refreshed\": false; %s reports reached Redis",
			figures.Int(int64(res.immediate)), figures.Int(reports())))
	return ctx.Err()
}

// postRefresh reports body's token to one replica; it returns the token
// answered and whether the answer says refreshed.
func (b *bench) postRefresh(ctx context.Context, hc *http.Client, addr string, body []byte) (string, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/apps/"+stormApp+"/refresh", bytes.NewReader(body))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Authorization", "Bearer "+b.APIToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	var ans struct {
		AccessToken string `json:"access_token"`
		Refreshed   bool   `json:"refreshed"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return "", false, fmt.Errorf("http %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", false, fmt.Errorf("http %d: %s", resp.StatusCode, ans.Error)
	}
	return ans.AccessToken, ans.Refreshed, nil
}

// stormReaders is how many Readers (business processes) share the library
// storm's reporters.
const stormReaders = 10

// libraryStorm: opts.reports goroutines over stormReaders Readers each call
// ReportInvalid with the same token, then wait until their Reader serves a
// new one.
func (b *bench) libraryStorm(ctx context.Context, d *fleet.Deployment) error {
	rec, err := afterCooldown(ctx, d, stormApp)
	if err != nil {
		return err
	}
	bad := rec.Token
	readers := make([]*reader.Reader, stormReaders)
	changed := make([]chan struct{}, stormReaders)
	for k := range readers {
		rdb, err := fleet.NewRedisClient(b.RedisURL, 20)
		if err != nil {
			return err
		}
		defer rdb.Close()
		if readers[k], err = reader.New(rdb, reader.Config{Prefix: d.Prefix}); err != nil {
			return err
		}
		defer readers[k].Close()
		if tok, err := readers[k].Token(ctx, stormApp); err != nil || tok.Value != bad {
			return fmt.Errorf("reader %d does not hold the token to report (err %v)", k, err)
		}
		changed[k] = make(chan struct{})
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var watchers sync.WaitGroup
	for k, r := range readers {
		watchers.Go(func() { watchChange(wctx, r, bad, changed[k]) })
	}
	res := &stormResult{lat: make(figures.Durations, b.opts.reports)}
	before := b.slow.FetchCount(stormApp)
	reports, err := b.countReports(ctx, d)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range b.opts.reports {
		k := i % stormReaders
		wg.Go(func() {
			if err := readers[k].ReportInvalid(wctx, stormApp, bad); err != nil {
				res.errorf("ReportInvalid: %v", err)
			}
			select {
			case <-changed[k]:
			case <-wctx.Done():
				res.errorf("no new token within 15 s")
				return
			}
			tok, err := readers[k].Token(wctx, stormApp)
			if err != nil {
				res.errorf("Token: %v", err)
			}
			res.check(b, bad, tok.Value, i, start)
		})
	}
	wg.Wait()
	cancel()
	watchers.Wait()
	res.finish(b, before, start)
	b.stormRow(res, fmt.Sprintf("report storm via Reader.ReportInvalid: %s reporters, %d Readers",
		figures.Int(int64(b.opts.reports)), stormReaders), fmt.Sprintf("%s reports reached Redis", figures.Int(reports())))
	return ctx.Err()
}

// watchChange closes ch once r serves a token other than bad.
func watchChange(ctx context.Context, r *reader.Reader, bad string, ch chan struct{}) {
	for ctx.Err() == nil {
		if tok, err := r.Token(ctx, stormApp); err == nil && tok.Value != bad {
			close(ch)
			return
		}
		time.Sleep(200 * time.Microsecond) // about 1 ms in practice; storms take longer
	}
}

// stormRow adds a storm's row; other than exactly one fetch, a dead or
// stale token, or a failed reporter breaks an invariant.
func (b *bench) stormRow(res *stormResult, figure, compare string) {
	st := statusOK
	if res.fetches != 1 {
		st = statusFail
		b.fail("%s: %d upstream fetches, want 1", figure, res.fetches)
	}
	if n := res.dead.Load() + res.stale.Load(); n > 0 {
		st = statusFail
		b.fail("%s: %d reporters ended with the reported or a dead token", figure, n)
	}
	if n := res.errs.Load(); n > 0 {
		st = statusFail
		b.fail("%s: %d reporters failed, first: %v", figure, n, res.firstErr.Load())
	}
	b.add(row{
		figure: figure,
		tokend: fmt.Sprintf("%d fetch (at +%s); reporters hold the new token: p50 %s, p99 %s, all %s",
			res.fetches, figures.Dur(res.fetchAt), figures.Dur(res.lat.Pct(50)), figures.Dur(res.lat.Pct(99)), figures.Dur(res.lat.Max())),
		compare: compare, goal: "1 fetch per storm", status: st,
	})
}

// countReports counts report events on d's channel from now until the
// returned function is called (which ends the subscription).
func (b *bench) countReports(ctx context.Context, d *fleet.Deployment) (func() int64, error) {
	sub := b.RDB.Subscribe(ctx, d.Store.Keys().Events())
	if _, err := sub.Receive(ctx); err != nil {
		sub.Close()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := sub.ReceiveMessage(ctx)
			if err != nil {
				return // closed by stop, or ctx ended
			}
			if ev, err := event.Parse(msg.Payload); err == nil && ev.Type == event.Report {
				n.Add(1)
			}
		}
	}()
	return func() int64 {
		time.Sleep(100 * time.Millisecond) // let the last events arrive
		sub.Close()
		<-done
		return n.Load()
	}, nil
}
