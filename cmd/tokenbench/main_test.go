package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/redisserver"
)

// TestRun_quick runs the whole bench with tiny sizes, so that CI notices
// when it stops working. It needs redis-server and builds tokend.
func TestRun_quick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs redis-server and tokend processes; skipped with -short")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not found on PATH and CI is set")
		}
		t.Skip("redis-server not found on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"-quick", "-lifetime", "3s", "-cycle-window", "5s", "-benchtime", "50ms",
		"-updates", "50", "-trials", "1", "-reports", "200", "-conns", "20", "-apps", "50",
		"-steady", "500ms", "-timeout", "55s"}
	start := time.Now()
	code := run(ctx, args, &stdout, &stderr)
	t.Logf("ran in %s\n%s", time.Since(start).Round(time.Millisecond), stdout.String())
	if code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{
		"| figure", "Reader hit", "propagation", "upstream fetches per refresh cycle, 3 replica(s)",
		"takeover after SIGTERM", "takeover after SIGKILL", "report storm over HTTP",
		"report storm via Reader.ReportInvalid", "ticket rollover, WeChat jsapi", "ticket rollover, WeCom agent_config",
		"ticket rollover, DingTalk jsapi", "scale: leader RSS", "all invariants held",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestRun_authorizers runs -only authorizers with 100 authorizers: every
// row is printed and no invariant breaks (no authorizer lost after the
// list is deleted).
func TestRun_authorizers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs redis-server and tokend processes; skipped with -short")
	}
	redisserver.Binary(t, "redis-server")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-only", "authorizers", "-authorizers", "100", "-authorizer-rate", "200", "-authorizer-steady", "1s", "-timeout", "85s"}, &stdout, &stderr)
	t.Logf("\n%s", stdout.String())
	if code != 0 {
		t.Fatalf("exit status %d\nstderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"authorizers: first fill, 100 authorizers", "authorizers: leader RSS", "authorizers: Redis commands/s, steady state",
		"per api_authorizer_token call", "recovery after DEL of the authorizer list", "0 lost, 0 with a refresh token other", "all invariants held"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(stdout.String(), "Reader hit") {
		t.Error("-only authorizers ran other parts")
	}
}

func TestParseFlags(t *testing.T) {
	var stderr bytes.Buffer
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"quick", []string{"-quick"}, ""},
		{"quick keeps explicit flags", []string{"-quick", "-apps", "7"}, ""},
		{"remote redis refused", []string{"-redis", "redis://10.0.0.1:6379/0"}, "not a loopback"},
		{"loopback redis", []string{"-redis", "redis://127.0.0.1:6379/0"}, ""},
		{"bad replicas", []string{"-replicas", "1,x"}, "-replicas"},
		{"lifetime not whole seconds", []string{"-lifetime", "2500ms"}, "-lifetime"},
		{"lifetime too short", []string{"-lifetime", "1s"}, "-lifetime"},
		{"unknown part", []string{"-only", "reader,nope"}, "-only"},
		{"authorizers", []string{"-only", "authorizers", "-authorizers", "5", "-authorizer-rate", "0.1"}, ""},
		{"authorizer rate too high", []string{"-authorizer-rate", "1001"}, "-authorizer-rate"},
		{"authorizer rate zero", []string{"-authorizer-rate", "0"}, "-authorizer-rate"},
		{"no authorizers", []string{"-authorizers", "0"}, "-authorizers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, &stderr)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("parseFlags: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("parseFlags error = %v, want it to mention %q (opts %+v)", err, tt.wantErr, o)
			}
		})
	}
	o, _ := parseFlags([]string{"-quick", "-apps", "7"}, &stderr)
	if o.apps != 7 || o.trials != 2 || len(o.replicas) != 2 {
		t.Errorf("-quick -apps 7: apps %d trials %d replicas %v, want 7, 2, [1 3]", o.apps, o.trials, o.replicas)
	}
}
