// Package storm runs tokenbench's report storms: many reporters of one
// bad token at once, over HTTP (POST /v1/apps/{app}/refresh spread over
// the replicas) or through reader.Reader.ReportInvalid, and measures the
// upstream fetches they caused and how long until each holds a new token.
package storm

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

// Config is one storm. Every field is required.
type Config struct {
	Env     *fleet.Env
	Fake    *upstream.Fake // the upstream of App
	App     string
	Reports int // reporters
	Conns   int // HTTP connections of the HTTP storm
}

// Cooldown is refresh.cooldown the storm replicas must run with.
const Cooldown = time.Second

// Result is what the reporters of one storm got.
type Result struct {
	Lat                figures.Durations // per reporter: storm start -> holds a new token
	Stale, Dead, Errs  atomic.Int64
	FirstErr           atomic.Value  // string
	Fetches, Immediate int           // upstream fetches; HTTP: answers "refreshed": false
	FetchAt            time.Duration // storm start -> the upstream answered the fetch
	Reached            int64         // reports that reached Redis
}

// finish counts the storm's upstream fetches, after a pause in which a
// late second fetch would show.
func (s *Result) finish(c Config, before int, start time.Time) {
	time.Sleep(500 * time.Millisecond)
	s.Fetches = c.Fake.FetchCount(c.App) - before
	for _, t := range c.Fake.Fetches(c.App) {
		if t.After(start) {
			s.FetchAt = t.Sub(start)
			break
		}
	}
}

func (s *Result) errorf(format string, args ...any) {
	s.Errs.Add(1)
	s.FirstErr.CompareAndSwap(nil, fmt.Sprintf(format, args...))
}

// check records the token a reporter ended up with.
func (s *Result) check(c Config, bad, tok string, i int, start time.Time) {
	s.Lat[i] = time.Since(start)
	switch {
	case tok == bad || tok == "":
		s.Stale.Add(1)
	case upstream.IsDead(c.Fake.Check(tok)):
		s.Dead.Add(1)
	}
}

// afterCooldown waits until app's token is older than the cooldown (plus a
// margin), so that a report of it causes a fetch, and returns it.
func afterCooldown(ctx context.Context, d *fleet.Deployment, app string) (store.Record, error) {
	deadline := time.Now().Add(Cooldown + 10*time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		rec, err := d.Store.Record(ctx, app)
		if err == nil && rec.Valid() && rec.Now.Sub(rec.FetchedAt) > Cooldown+200*time.Millisecond {
			return rec, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return store.Record{}, errors.New("no token past the cooldown")
}

// httpStorm: opts.reports POST /v1/apps/storm/refresh of one token, spread
// over the replicas, through opts.conns connections.
func HTTP(ctx context.Context, c Config, d *fleet.Deployment) (*Result, error) {
	rec, err := afterCooldown(ctx, d, c.App)
	if err != nil {
		return nil, err
	}
	bad := rec.Token
	body, _ := json.Marshal(map[string]string{"invalid_token": bad})
	tr := &http.Transport{MaxIdleConnsPerHost: c.Conns, MaxConnsPerHost: c.Conns, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	res := &Result{Lat: make(figures.Durations, c.Reports)}
	var refreshed atomic.Int64
	before := c.Fake.FetchCount(c.App)
	reports, err := countReports(ctx, d)
	if err != nil {
		return nil, err
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range c.Conns {
		wg.Go(func() {
			for i := range jobs {
				rep := d.Reps[i%len(d.Reps)]
				tok, fresh, err := postRefresh(ctx, c, hc, rep.Addr, body)
				if err != nil {
					res.errorf("%s: %v", rep.ID, err)
					res.Lat[i] = time.Since(start)
					continue
				}
				if fresh {
					refreshed.Add(1)
				}
				res.check(c, bad, tok, i, start)
			}
		})
	}
	for i := range c.Reports {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	res.finish(c, before, start)
	res.Immediate = c.Reports - int(refreshed.Load())
	res.Reached = reports()
	return res, ctx.Err()
}

// postRefresh reports body's token to one replica; it returns the token
// answered and whether the answer says refreshed.
func postRefresh(ctx context.Context, c Config, hc *http.Client, addr string, body []byte) (string, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/apps/"+c.App+"/refresh", bytes.NewReader(body))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Env.APIToken)
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

// Readers is how many Readers (business processes) share the library
// storm's reporters.
const Readers = 10

// libraryStorm: opts.reports goroutines over Readers Readers each call
// ReportInvalid with the same token, then wait until their Reader serves a
// new one.
func Library(ctx context.Context, c Config, d *fleet.Deployment) (*Result, error) {
	rec, err := afterCooldown(ctx, d, c.App)
	if err != nil {
		return nil, err
	}
	bad := rec.Token
	readers := make([]*reader.Reader, Readers)
	changed := make([]chan struct{}, Readers)
	for k := range readers {
		rdb, err := fleet.NewRedisClient(c.Env.RedisURL, 20)
		if err != nil {
			return nil, err
		}
		defer rdb.Close()
		if readers[k], err = reader.New(rdb, reader.Config{Prefix: d.Prefix}); err != nil {
			return nil, err
		}
		defer readers[k].Close()
		if tok, err := readers[k].Token(ctx, c.App); err != nil || tok.Value != bad {
			return nil, fmt.Errorf("reader %d does not hold the token to report (err %v)", k, err)
		}
		changed[k] = make(chan struct{})
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var watchers sync.WaitGroup
	for k, r := range readers {
		watchers.Go(func() { watchChange(wctx, r, c.App, bad, changed[k]) })
	}
	res := &Result{Lat: make(figures.Durations, c.Reports)}
	before := c.Fake.FetchCount(c.App)
	reports, err := countReports(ctx, d)
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range c.Reports {
		k := i % Readers
		wg.Go(func() {
			if err := readers[k].ReportInvalid(wctx, c.App, bad); err != nil {
				res.errorf("ReportInvalid: %v", err)
			}
			select {
			case <-changed[k]:
			case <-wctx.Done():
				res.errorf("no new token within 15 s")
				return
			}
			tok, err := readers[k].Token(wctx, c.App)
			if err != nil {
				res.errorf("Token: %v", err)
			}
			res.check(c, bad, tok.Value, i, start)
		})
	}
	wg.Wait()
	cancel()
	watchers.Wait()
	res.finish(c, before, start)
	res.Reached = reports()
	return res, ctx.Err()
}

// watchChange closes ch once r serves a token other than bad.
func watchChange(ctx context.Context, r *reader.Reader, app, bad string, ch chan struct{}) {
	for ctx.Err() == nil {
		if tok, err := r.Token(ctx, app); err == nil && tok.Value != bad {
			close(ch)
			return
		}
		time.Sleep(200 * time.Microsecond) // about 1 ms in practice; storms take longer
	}
}

// countReports counts report events on d's channel from now until the
// returned function is called (which ends the subscription).
func countReports(ctx context.Context, d *fleet.Deployment) (func() int64, error) {
	var n atomic.Int64
	stop, err := d.Follow(ctx, func(ev event.Event) bool {
		if ev.Type == event.Report {
			n.Add(1)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return func() int64 {
		time.Sleep(100 * time.Millisecond) // let the last events arrive
		stop()
		return n.Load()
	}, nil
}
