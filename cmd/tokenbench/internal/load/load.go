// Package load measures an endpoint under concurrent load: Clients
// clients over keep-alive connections, requests per second and latency
// percentiles; and the same for a Redis GET through redis-benchmark.
package load

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

// Clients is how many concurrent clients every measurement runs.
const Clients = 16

// Result is one measurement: requests per second and the 50th and
// 99th percentile latencies (0: not known).
type Result struct {
	RPS      float64
	P50, P99 time.Duration
}

// String is "N req/s, p99 D" (without the p99 when not known).
func (r Result) String() string {
	s := figures.Int(int64(r.RPS)) + " req/s"
	if r.P99 > 0 {
		s += ", p99 " + figures.Dur(r.P99)
	}
	return s
}

// HTTP GETs u (with a bearer token unless "") from Clients
// clients over keep-alive connections for d. Every answer must be 200
// with the token want: anything else is an error (a broken route, not a
// slow one).
func HTTP(ctx context.Context, u, bearer, want string, d time.Duration) (Result, error) {
	return With(ctx, d, func(hc *http.Client) error { return GetToken(ctx, hc, u, bearer, want) })
}

// With runs call from Clients clients over keep-alive
// connections for d; any error ends the measurement with it.
func With(ctx context.Context, d time.Duration, call func(*http.Client) error) (Result, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: Clients, MaxConnsPerHost: Clients}
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
	for range Clients {
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
		return Result{}, first
	}
	if len(lat) == 0 {
		return Result{}, errors.New("no request completed")
	}
	return Result{RPS: float64(len(lat)) / time.Since(start).Seconds(), P50: lat.Pct(50), P99: lat.Pct(99)}, nil
}

// GetToken GETs u and checks the answer is 200 with the token want.
func GetToken(ctx context.Context, hc *http.Client, u, bearer, want string) error {
	var ans struct {
		AccessToken string `json:"access_token"`
		Errcode     int    `json:"errcode"`
	}
	status, err := GetJSON(ctx, hc, u, bearer, &ans)
	switch {
	case err != nil:
		return err
	case status != http.StatusOK || ans.AccessToken != want:
		return fmt.Errorf("HTTP %d, errcode %d, not the stored token", status, ans.Errcode)
	}
	return nil
}

// GetJSON GETs u (with a bearer token unless "") and decodes the answer,
// at most 64 KiB, into v; it returns the HTTP status.
func GetJSON(ctx context.Context, hc *http.Client, u, bearer string, v any) (int, error) {
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

// RedisBenchmarkGET runs redis-benchmark GETting key on the Redis at
// redisURL with Clients connections, about d's worth of requests.
func RedisBenchmarkGET(ctx context.Context, redisURL, key string, d time.Duration) (Result, error) {
	bin, err := exec.LookPath("redis-benchmark")
	if err != nil {
		return Result{}, errors.New("skipped, redis-benchmark not found")
	}
	u, err := url.Parse(redisURL)
	if err != nil {
		return Result{}, err
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return Result{}, err
	}
	n := max(1000, int(d.Seconds()*50000))
	args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(Clients), "-n", strconv.Itoa(n), "--csv"}
	if pw, ok := u.User.Password(); ok {
		args = append(args, "-a", pw)
	}
	out, err := exec.CommandContext(ctx, bin, append(args, "GET", key)...).Output()
	if err != nil {
		return Result{}, fmt.Errorf("redis-benchmark: %w", err)
	}
	return ParseBenchmarkCSV(string(out))
}

// ParseBenchmarkCSV reads redis-benchmark --csv output: a header row
// ("test","rps",...,"p99_latency_ms",...) and one row per test; older
// versions have no latency columns (p99 0).
func ParseBenchmarkCSV(out string) (Result, error) {
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) < 2 {
		return Result{}, fmt.Errorf("redis-benchmark: unexpected output %q", out)
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
		return Result{}, fmt.Errorf("redis-benchmark: no rps in %q", out)
	}
	r := Result{RPS: rps}
	if p99, ok := field("p99_latency_ms"); ok {
		r.P99 = time.Duration(p99 * float64(time.Millisecond))
	}
	return r, nil
}
