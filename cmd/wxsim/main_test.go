package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer collects a logger's output (harness.LogBuffer).
type syncBuffer = harness.LogBuffer

func getJSON(t *testing.T, hc *http.Client, url string, v any) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// started is a run in progress.
type started struct {
	base string
	logs *syncBuffer
	hc   *http.Client
	stop func() error // cancels run and returns its error
}

// start runs wxsim with args on a free port until stop.
func start(t *testing.T, args ...string) started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logs := &syncBuffer{}
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), logs, func(a net.Addr) { addrc <- a })
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("run ended early: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return started{base: base, logs: logs, hc: hc, stop: func() error { cancel(); return <-done }}
}

func TestRun_servesAndStops(t *testing.T) {
	s := start(t, "-lifetime", "90s", "-overlap", "10s", "-v", "-app", "wxa:secret-a", "-app", "wxb:secret-b")
	base, hc := s.base, s.hc
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		ErrCode     int    `json:"errcode"`
	}
	getJSON(t, hc, base+"/cgi-bin/token?grant_type=client_credential&appid=wxb&secret=secret-b", &tok)
	if tok.AccessToken == "" || tok.ExpiresIn != 90 {
		t.Fatalf("token answer %+v", tok)
	}
	getJSON(t, hc, base+"/cgi-bin/token?grant_type=client_credential&appid=wxdemo0000000001&secret=demosecret", &tok)
	if tok.ErrCode != 40013 {
		t.Fatalf("demo app must not exist when -app is given: %+v", tok)
	}
	var audit struct {
		Fetches map[string]int `json:"fetches"`
	}
	getJSON(t, hc, base+"/audit", &audit)
	if audit.Fetches["wxb/token"] != 1 {
		t.Fatalf("audit %+v", audit)
	}

	if err := s.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	out := s.logs.String()
	for _, want := range []string{"wxsim listening", "apps=\"[wxa wxb]\"", "path=/cgi-bin/token", "wxsim shutting down"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret-") || strings.Contains(out, tok.AccessToken) {
		t.Errorf("logs leak a secret or token:\n%s", out)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.listen != "127.0.0.1:8090" || o.cfg.Lifetime != 7200*time.Second || o.cfg.Overlap != 5*time.Minute ||
		o.cfg.DailyQuota != 2000 || o.cfg.MinuteQuota != 0 || len(o.apps) != 1 || o.apps[0] != (app{"wxdemo0000000001", "demosecret"}) {
		t.Fatalf("defaults: %+v", o)
	}
	o, err = parseFlags([]string{"-daily-quota", "-1", "-minute-quota", "5", "-app", "wx:se:cret"}, &bytes.Buffer{})
	if err != nil || o.cfg.DailyQuota != -1 || o.cfg.MinuteQuota != 5 || o.apps[0] != (app{"wx", "se:cret"}) {
		t.Fatalf("parsed %+v, %v", o, err)
	}
	for _, args := range [][]string{
		{"-app", "nocolon"}, {"-app", ":secret"}, {"-app", "wx:"},
		{"-lifetime", "0s"}, {"-overlap", "2h"}, {"-nope"}, {"extra"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
	if _, err := parseFlags([]string{"-h"}, &bytes.Buffer{}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestRun_listenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run(context.Background(), []string{"-listen", ln.Addr().String()}, &bytes.Buffer{}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "wxsim: ") {
		t.Fatalf("err = %v, want a listen error", err)
	}
	if err := run(context.Background(), []string{"-bad"}, &bytes.Buffer{}, nil); !errors.Is(err, errUsage) {
		t.Fatalf("err = %v", err)
	}
}

// TestUsage_listsEveryRoute: -h lists every route, audit and rotate
// included (issue 11 item 15), and each listed route is served.
func TestUsage_listsEveryRoute(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	for _, want := range []string{"GET  /audit", "POST /rotate?appid=&endpoint=token|stable_token", "POST /cgi-bin/stable_token", "-lifetime"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	fake := wechattest.New(wechattest.Config{})
	defer fake.Close()
	h := fake.Handler()
	for _, r := range routes {
		path, _, _ := strings.Cut(r.path, "?")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(r.method, path, strings.NewReader("{}")))
		if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, not served", r.method, path, rec.Code)
		}
	}
}
