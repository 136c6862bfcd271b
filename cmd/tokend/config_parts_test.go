package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokend/tokend/cmd/tokend/internal/config"
)

// libraryRejects are configs whose fault only a library's constructor
// finds (lock, store, refresher, wechat): the field each error must name.
var libraryRejects = []struct {
	name, yaml, field, msg string
}{
	{"deadline >= ttl", goodConfig + "election: {lease_ttl: 10s, renew_deadline: 10s}\n",
		"election.renew_deadline", "must be less than lease_ttl (10s)"},
	{"interval >= deadline", goodConfig + "election: {renew_interval: 10s}\n",
		"election.renew_interval", "must be less than renew_deadline (10s)"},
	{"timeout >= deadline", repl("  url:", "  timeout: 12s\n  url:"),
		"redis.timeout", "must be less than election.renew_deadline (10s)"},
	{"timeout >= ttl - deadline", repl("  url:", "  timeout: 5s\n  url:"),
		"redis.timeout", "must be less than election.lease_ttl - election.renew_deadline (5s): a renewal stuck for redis.timeout would outlive the lease"},
	{"wait >= timeout", repl("  url:", "  min_replicas_ack: 1\n  wait_timeout: 1s\n  url:"),
		"redis.wait_timeout", "must be less than redis.timeout (1s)"},
	{"negative ack", repl("  url:", "  min_replicas_ack: -1\n  url:"), "redis.min_replicas_ack", "must not be negative (0: off)"},
	{"bad prefix", repl("  url:", "  prefix: \"a}b\"\n  url:"), "redis.prefix", "must match"},
	{"late refresh", goodConfig + "refresh: {before_expiry: 30s, safety_margin: 1m}\n",
		"refresh.before_expiry", "must be greater than safety_margin (1m0s)"},
	{"budget above WeChat's", goodConfig + "refresh: {daily_budget: 2001}\n", "refresh.daily_budget", "from 1 to 2000"},
	{"budget below -1", goodConfig + "refresh: {daily_budget: -5}\n", "refresh.daily_budget", "-1 for no budget"},
	{"no apps", repl("apps:\n  - id: mp-main\n    provider: wechat\n    appid: wx1234567890abcdef\n    secret_env: MP_SECRET\n", "apps: []\n"), "apps", "at least one app required"},
	{"no app id", repl("  - id: mp-main", "  - id: \"\""), "apps[0].id", "required"},
	{"duplicate app id", goodConfig + "  - id: mp-main\n    provider: wechat\n    appid: wx1\n    secret_env: MP_SECRET\n",
		"apps[1].id", "duplicate id"},
	{"blank appid", repl("appid: wx1234567890abcdef", "appid: \" \""), "apps[0].appid", "required"},
	{"ftp base url", repl("secret_env: MP_SECRET", "secret_env: MP_SECRET\n    base_url: ftp://x"),
		"apps[0].base_url", "want an http or https URL"},
	{"base url with query", repl("secret_env: MP_SECRET", "secret_env: MP_SECRET\n    base_url: https://api.example.com/?x=1"),
		"apps[0].base_url", "must not have user info, a query or a fragment"},
}

func repl(old, new string) string { return strings.Replace(goodConfig, old, new, 1) }

// TestConfig_checkAndStartAgree: every config a library rejects fails
// `tokend check`, a start from the command line and the daemon's own
// wiring (newDaemon on a config that skipped the libraries' rules) with
// the same one-line error naming the YAML path, and exit 2 from the
// command line. A config check accepts builds a daemon.
func TestConfig_checkAndStartAgree(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tt := range libraryRejects {
		t.Run(tt.name, func(t *testing.T) {
			want := "config: " + tt.field + ": "
			_, _, err := parseConfig([]byte(tt.yaml), getenv, readFile)
			var ce *config.Error
			if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("parseConfig: err = %v, want %s...%s", err, want, tt.msg)
			}
			cfg, _, derr := config.Parse([]byte(tt.yaml), getenv, readFile)
			if derr != nil {
				t.Fatalf("config.Parse: %v; the fault should be the library's to find", derr)
			}
			if _, werr := newDaemon(cfg, log, daemonOptions{getenv: getenv}); werr == nil || werr.Error() != err.Error() {
				t.Fatalf("newDaemon: err = %v, want %v", werr, err)
			}
			path := filepath.Join(t.TempDir(), "tokend.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"check", "-config", path}, {"-config", path}} {
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), args, getenv, os.ReadFile, &stdout, &stderr)
				if code != exitConfig || stderr.String() != "tokend: "+err.Error()+"\n" {
					t.Fatalf("tokend %v: exit %d, stderr %q; want 2 and %q", args, code, stderr.String(), err)
				}
			}
		})
	}
	cfg, _, err := parseConfig([]byte(goodConfig), getenv, readFile)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDaemon(cfg, log, daemonOptions{getenv: getenv})
	if err != nil {
		t.Fatalf("newDaemon of a checked config: %v", err)
	}
	d.reader.Close()
	d.rdb.Close()
}
