package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"k8s.io/utils/clock"

	"github.com/tokend/tokend/cmd/tokend/internal/logrepeat"
	"github.com/tokend/tokend/cmd/tokend/internal/metrics"
	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
)

// TestMain removes the tokend binary harness.Binary built.
func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}

// syncBuffer collects a logger's output (harness.LogBuffer).
type syncBuffer = harness.LogBuffer

// startDaemon runs a replica of config y (secrets through getenv, files
// read from disk) logging JSON at debug level to logs: the HTTP API's base
// URL, and stop, which ends the run and returns its error.
func startDaemon(t *testing.T, y string, getenv func(string) string, logs *syncBuffer) (base string, stop func() error) {
	t.Helper()
	cfg, _, err := parseConfig([]byte(y), getenv, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	d, err := newDaemon(cfg, newLogger(logs, "json", slog.LevelDebug), daemonOptions{getenv: getenv, onListen: func(a string) { addr <- a }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("run ended before listening: %v", err)
	}
	return base, func() error { cancel(); return <-done }
}

func getJSON(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer api-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp.StatusCode
}

// TestDaemon_noSecretOrTokenInLogs runs a replica in-process against
// miniredis and the fake upstream, refreshes passively, and checks every
// log line (debug level, JSON) for the secret and the tokens.
func TestDaemon_noSecretOrTokenInLogs(t *testing.T) {
	mr := miniredis.RunT(t)
	up := wechattest.NewServer(wechattest.Config{Lifetime: 2 * time.Hour})
	defer up.Close()
	const secret = "the-app-secret-0123456789"
	up.AddApp("wxlogtest", secret)
	env := map[string]string{"SECRET": secret, "API_TOKENS": "api-token"}
	y := `
replica_id: logtest
redis: {url: "redis://` + mr.Addr() + `/0", timeout: 500ms}
http: {listen: "127.0.0.1:0", auth_tokens_env: API_TOKENS}
election: {lease_ttl: 3s, renew_interval: 500ms, renew_deadline: 2s, retry_interval: 100ms}
refresh: {cooldown: 100ms}
log: {level: debug, format: json}
apps: [{id: app, provider: wechat, appid: wxlogtest, secret_env: SECRET, base_url: "` + up.URL + `"}]
`
	var logs syncBuffer
	base, stop := startDaemon(t, y, func(k string) string { return env[k] }, &logs)
	ctx := context.Background()

	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	var first string
	wait.Poll(5*time.Second, func() bool { first = rdb.Get(ctx, "{tokend}:token:app").Val(); return first != "" })
	if first == "" {
		t.Fatalf("no token written; logs:\n%s", logs.String())
	}
	var ans tokenAnswer
	if code := getJSON(t, "POST", base+"/v1/apps/app/refresh", `{"invalid_token":"`+first+`"}`, &ans); code != 200 || ans.AccessToken == first || ans.AccessToken == "" {
		t.Fatalf("refresh: %d %+v", code, ans)
	}
	second := ans.AccessToken
	if code := getJSON(t, "GET", base+"/v1/apps/app/token", "", &ans); code != 200 || ans.AccessToken != second {
		t.Fatalf("token after refresh: %d", code)
	}
	// The replica registry and the audit trail (refreshes, the report).
	if v := rdb.HGet(ctx, "{tokend}:replicas", "logtest").Val(); !strings.Contains(v, `"listen":"`+strings.TrimPrefix(base, "http://")+`"`) {
		t.Errorf("registry entry %q", v)
	}
	wait.Poll(5*time.Second, func() bool { return rdb.XLen(ctx, "{tokend}:audit").Val() >= 3 })
	if n := rdb.XLen(ctx, "{tokend}:audit").Val(); n < 3 {
		t.Errorf("%d audit entries, want leader + 2 refreshes + report", n)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if rdb.Exists(context.Background(), "{tokend}:lease").Val() != 0 {
		t.Fatal("lease not released on shutdown")
	}
	if rdb.HExists(context.Background(), "{tokend}:replicas", "logtest").Val() {
		t.Error("registry entry left after a clean shutdown")
	}
	out := logs.String()
	if !strings.Contains(out, "token refreshed") || !strings.Contains(out, "reported invalid") || !strings.Contains(out, `"msg":"audit"`) {
		t.Fatalf("logs do not show the refreshes:\n%s", out)
	}
	for name, s := range map[string]string{"secret": secret, "first token": first, "second token": second} {
		if strings.Contains(out, s) {
			t.Errorf("the %s appears in the logs", name)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			t.Errorf("log line is not JSON: %q", sc.Text())
		}
	}
}

// TestBinary_devMode builds tokend and runs it with no config, as the README
// says, then reads the demo token over HTTP and stops it with SIGTERM.
func TestBinary_devMode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := harness.Binary(t)
	cmd := exec.Command(bin, "-dev-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "TOKEND_CONFIG=")
	stdout, _ := cmd.StdoutPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	banner := make(chan string, 1)
	go func() {
		var b strings.Builder
		io.Copy(&b, io.TeeReader(stdout, writerFunc(func(p []byte) {
			if m := regexp.MustCompile(`curl -s (http://[0-9.:]+)/v1/apps/demo/token`).FindSubmatch(p); m != nil {
				select {
				case banner <- string(m[1]):
				default:
				}
			}
		})))
	}()
	var base string
	select {
	case base = <-banner:
	case <-time.After(20 * time.Second):
		t.Fatalf("no banner; stderr:\n%s", stderr.String())
	}
	var ans tokenAnswer
	code := 0
	wait.Poll(5*time.Second, func() bool {
		resp, err := http.Get(base + "/v1/apps/demo/token")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		code = resp.StatusCode
		json.NewDecoder(resp.Body).Decode(&ans)
		return code == 200
	})
	if code != 200 || len(ans.AccessToken) < 64 || ans.ExpiresIn < 7000 || ans.ExpiresIn > 7200 {
		t.Fatalf("dev token: %d %+v", code, ans)
	}
	checkDevTicket(t, base)
	cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10s of SIGTERM")
	}
	if logs := stderr.String(); strings.Contains(logs, ans.AccessToken) || strings.Contains(logs, devSecret) {
		t.Fatal("dev mode logs contain the token or the secret")
	}
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

func TestAuthWarning(t *testing.T) {
	for _, tc := range []struct {
		listen string
		tokens int
		open   bool
		warn   bool
	}{
		{"127.0.0.1:8080", 0, false, true},
		{"127.0.0.1:8080", 1, false, false},
		{"127.0.0.1:8080", 0, true, false}, // dev mode: open
		{"", 0, false, false},              // no API
	} {
		msg := authWarning(tc.listen, tc.tokens, tc.open)
		if (msg != "") != tc.warn || (tc.warn && (!strings.Contains(msg, "403") || !strings.Contains(msg, "http.auth_tokens_env"))) {
			t.Errorf("%+v: %q", tc, msg)
		}
	}
}

// TestDaemon_corruptCounted: the store's OnCorrupt hook counts per app and
// repair state.
func TestDaemon_corruptCounted(t *testing.T) {
	d := &daemon{metrics: metrics.New(), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		opts: daemonOptions{repeats: logrepeat.New(slog.New(slog.NewTextHandler(io.Discard, nil)), clock.RealClock{})}}
	d.corrupt(&store.CorruptError{App: "mp-main", Key: "{tokend}:meta:mp-main", Field: "ticket", Detail: "not an integer"})
	d.corrupt(&store.CorruptError{Key: "{tokend}:reports", Detail: "wrong type", Repaired: true})
	got := scrape(t, d.metrics.Handler(), `tokend_corrupt_keys_total{app="mp-main",repaired="false"}`) +
		scrape(t, d.metrics.Handler(), `tokend_corrupt_keys_total{app="",repaired="true"}`)
	if got != 2 {
		t.Fatalf("tokend_corrupt_keys_total sums to %v, want 2", got)
	}
}

// tokenAnswer is the token and refresh routes' JSON answer, as a client
// decodes it.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	Refreshed   *bool  `json:"refreshed,omitempty"`
}

// scrape is series's value in h's Prometheus text answer (0 when absent).
func scrape(t *testing.T, h http.Handler, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}
