package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
)

// compatClients is the concurrency of every compat measurement: the HTTP
// clients of each route and redis-benchmark's connections.
const compatClients = 16

// compatFigures: GET /cgi-bin/token (the WeChat-shaped route SDKs call)
// against one replica, beside GET /v1/apps/{app}/token on the same
// replica and redis-benchmark GETting the token key on the same
// redis-server (skipped when redis-benchmark is missing): requests per
// second and p99, each for opts.benchtime with compatClients clients.
func (b *bench) compatFigures(ctx context.Context) error {
	ids, d, err := b.slowAppsDeployment("compat", "cmp", 1)
	if err != nil {
		return err
	}
	defer d.Stop()
	if err := d.StartReplicas(ctx, 1, 30*time.Second); err != nil {
		return err
	}
	app := ids[0]
	rec, err := d.WaitToken(ctx, app, 30*time.Second)
	if err != nil {
		return err
	}
	base := "http://" + d.Reps[0].Addr
	q := url.Values{"grant_type": {"client_credential"}, "appid": {app}, "secret": {b.Secret}}
	compat, err := loadHTTP(ctx, base+"/cgi-bin/token?"+q.Encode(), "", rec.Token, b.opts.benchtime)
	if err != nil {
		return fmt.Errorf("/cgi-bin/token: %w", err)
	}
	v1, err := loadHTTP(ctx, base+"/v1/apps/"+app+"/token", b.APIToken, rec.Token, b.opts.benchtime)
	if err != nil {
		return fmt.Errorf("/v1/apps/{app}/token: %w", err)
	}
	ref := "/v1/apps/{app}/token: " + compat2str(v1)
	if rb, err := redisBenchmarkGET(ctx, b.RedisURL, d.Store.Keys().Token(app), b.opts.benchtime); err != nil {
		ref += "; redis-benchmark GET: " + err.Error()
	} else {
		ref += "; redis-benchmark GET of the token key: " + compat2str(rb)
	}
	b.add(row{
		figure: fmt.Sprintf("compat: GET /cgi-bin/token, 1 replica, %d clients", compatClients),
		tokend: compat2str(compat), compare: ref,
		goal: ">= 1/2 of the /v1 route's req/s", status: goalStatus(2*compat.rps >= v1.rps),
	})
	return nil
}

// loadResult is one measurement: requests per second and the 50th and
// 99th percentile latencies (0: not known).
type loadResult struct {
	rps      float64
	p50, p99 time.Duration
}

func compat2str(r loadResult) string {
	s := figures.Int(int64(r.rps)) + " req/s"
	if r.p99 > 0 {
		s += ", p99 " + figures.Dur(r.p99)
	}
	return s
}

// loadHTTP GETs u (with a bearer token unless "") from compatClients
// clients over keep-alive connections for d. Every answer must be 200
// with the token want: anything else is an error (a broken route, not a
// slow one).
func loadHTTP(ctx context.Context, u, bearer, want string, d time.Duration) (loadResult, error) {
	return loadWith(ctx, d, func(hc *http.Client) error { return getToken(ctx, hc, u, bearer, want) })
}

// loadWith runs call from compatClients clients over keep-alive
// connections for d; any error ends the measurement with it.
func loadWith(ctx context.Context, d time.Duration, call func(*http.Client) error) (loadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: compatClients, MaxConnsPerHost: compatClients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		mu    sync.Mutex
		lat   figures.Durations
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range compatClients {
		wg.Go(func() {
			var own figures.Durations
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if err := call(hc); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				own = append(own, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, own...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if first != nil {
		return loadResult{}, first
	}
	if len(lat) == 0 {
		return loadResult{}, errors.New("no request completed")
	}
	return loadResult{rps: float64(len(lat)) / time.Since(start).Seconds(), p50: lat.Pct(50), p99: lat.Pct(99)}, nil
}

func getToken(ctx context.Context, hc *http.Client, u, bearer, want string) error {
	var ans struct {
		AccessToken string `json:"access_token"`
		Errcode     int    `json:"errcode"`
	}
	status, err := getJSON(ctx, hc, u, bearer, &ans)
	switch {
	case err != nil:
		return err
	case status != http.StatusOK || ans.AccessToken != want:
		return fmt.Errorf("HTTP %d, errcode %d, not the stored token", status, ans.Errcode)
	}
	return nil
}

// getJSON GETs u (with a bearer token unless "") and decodes the answer,
// at most 64 KiB, into v; it returns the HTTP status.
func getJSON(ctx context.Context, hc *http.Client, u, bearer string, v any) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, json.Unmarshal(body, v)
}

// redisBenchmarkGET runs redis-benchmark GETting key on the Redis at
// redisURL with compatClients connections, about d's worth of requests.
func redisBenchmarkGET(ctx context.Context, redisURL, key string, d time.Duration) (loadResult, error) {
	bin, err := exec.LookPath("redis-benchmark")
	if err != nil {
		return loadResult{}, errors.New("skipped, redis-benchmark not found")
	}
	u, err := url.Parse(redisURL)
	if err != nil {
		return loadResult{}, err
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return loadResult{}, err
	}
	n := max(1000, int(d.Seconds()*50000))
	args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(compatClients), "-n", strconv.Itoa(n), "--csv"}
	if pw, ok := u.User.Password(); ok {
		args = append(args, "-a", pw)
	}
	out, err := exec.CommandContext(ctx, bin, append(args, "GET", key)...).Output()
	if err != nil {
		return loadResult{}, fmt.Errorf("redis-benchmark: %w", err)
	}
	return parseBenchmarkCSV(string(out))
}

// parseBenchmarkCSV reads redis-benchmark --csv output: a header row
// ("test","rps",...,"p99_latency_ms",...) and one row per test; older
// versions have no latency columns (p99 0).
func parseBenchmarkCSV(out string) (loadResult, error) {
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) < 2 {
		return loadResult{}, fmt.Errorf("redis-benchmark: unexpected output %q", out)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	last := rows[len(rows)-1]
	field := func(name string) (float64, bool) {
		i, ok := col[name]
		if !ok || i >= len(last) {
			return 0, false
		}
		v, err := strconv.ParseFloat(last[i], 64)
		return v, err == nil
	}
	rps, ok := field("rps")
	if !ok {
		return loadResult{}, fmt.Errorf("redis-benchmark: no rps in %q", out)
	}
	r := loadResult{rps: rps}
	if p99, ok := field("p99_latency_ms"); ok {
		r.p99 = time.Duration(p99 * float64(time.Millisecond))
	}
	return r, nil
}
