package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokend/tokend/cmd/tokend/internal/config"
)

// TestSecretSource: env and literal secrets are the value validation
// resolved; secret_file goes through the watcher.
func TestSecretSource(t *testing.T) {
	envApp := config.AppConfig{SecretEnv: "X"}
	envApp.SetSecret("env-value")
	if got := secretSource(envApp, "f", partHooks{}, slog.New(slog.DiscardHandler))(); got != "env-value" {
		t.Fatalf("env: %q", got)
	}
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fileApp := config.AppConfig{SecretFile: path}
	fileApp.SetSecret("at-start")
	if got := secretSource(fileApp, "f", partHooks{}, slog.New(slog.DiscardHandler))(); got != "from-file" {
		t.Fatalf("file: %q", got)
	}
	fileApp.SecretFile = filepath.Join(t.TempDir(), "missing")
	if got := secretSource(fileApp, "f", partHooks{}, slog.New(slog.DiscardHandler))(); got != "at-start" {
		t.Fatalf("unreadable at first use: %q, want the value read at start", got)
	}
}

// TestNewParts_components: the push route and the keepers are parts, so
// `tokend check` builds them through the constructors a start uses.
func TestNewParts_components(t *testing.T) {
	cfg, _, err := parseConfig([]byte(goodConfig+"components:"+componentYAML), componentEnv, readFile)
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := newRedis(cfg.Redis, componentEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	p, err := newParts(cfg, rdb, partHooks{})
	if err != nil {
		t.Fatal(err)
	}
	if p.callback == nil || len(p.keepers) != len(cfg.Components) {
		t.Fatalf("callback %v, %d keepers for %d components", p.callback != nil, len(p.keepers), len(cfg.Components))
	}
}
