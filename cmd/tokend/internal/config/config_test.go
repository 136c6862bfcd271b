package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/store"
)

const minimal = `
redis: {url: "redis://127.0.0.1:6379/0"}
apps:
  - {id: mp-main, provider: wechat, appid: wx1, secret_env: MP_SECRET}
`

func env(k string) string { return map[string]string{"MP_SECRET": "s3cr3t-value"}[k] }

func noFile(string) ([]byte, error) { return nil, errors.New("no file") }

// TestParse_defaults: omitted keys get the libraries' exported defaults;
// the secret is resolved, and no warning is given.
func TestParse_defaults(t *testing.T) {
	cfg, warnings, err := Parse([]byte(minimal), env, noFile)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Parse: %v %v", err, warnings)
	}
	if cfg.Election.LeaseTTL != lock.DefaultLeaseTTL || cfg.Refresh.DailyBudget != refresher.DefaultDailyBudget ||
		cfg.Redis.WaitTimeout != store.DefaultWaitTimeout || cfg.Redis.Prefix != store.DefaultPrefix ||
		cfg.Redis.Timeout != time.Second || *cfg.HTTP.Listen != "127.0.0.1:8080" || !*cfg.HTTP.Compat {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if cfg.Apps[0].ResolvedSecret() != "s3cr3t-value" || cfg.Apps[0].BaseURL != "https://api.weixin.qq.com" {
		t.Errorf("app not resolved: base_url %q", cfg.Apps[0].BaseURL)
	}
}

// TestParse_shapeOnly: Parse checks tokend's own rules and leaves the
// libraries' (renew_deadline < lease_ttl) to their constructors, whose
// typed errors LibraryError maps to the YAML path.
func TestParse_shapeOnly(t *testing.T) {
	y := minimal + "election: {lease_ttl: 10s, renew_deadline: 10s}\n"
	cfg, _, err := Parse([]byte(y), env, noFile)
	if err != nil {
		t.Fatalf("Parse: %v; the fault is lock's to find", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	_, err = lock.New(lock.Config{Client: rdb, Key: "k", EpochKey: "e", Channel: "c", ID: cfg.ReplicaID,
		LeaseTTL: cfg.Election.LeaseTTL, RenewDeadline: cfg.Election.RenewDeadline})
	var ce *Error
	if err = LibraryError(err, ""); !errors.As(err, &ce) || ce.Field != "election.renew_deadline" || !strings.Contains(ce.Msg, "lease_ttl") {
		t.Fatalf("LibraryError = %v, want election.renew_deadline naming lease_ttl", err)
	}
	if want := "config: election.renew_deadline: must be less than lease_ttl (10s)"; err.Error() != want {
		t.Errorf("LibraryError = %q, want %q", err, want)
	}
}

// TestDecode_strict: a second document, a duplicate key, an unknown
// field and an explicit zero are errors naming the field; Decode resolves
// no secret.
func TestDecode_strict(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{minimal + "---\nredis: {}\n", "config: a second YAML document starts at line"},
		{minimal + "redis: {url: x}\n", "config: redis: duplicate key"},
		{minimal + "colour: red\n", `config: colour: unknown field "colour"`},
		{"", "config: empty file"},
	} {
		if _, err := Decode([]byte(tc.yaml)); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Decode: err = %v, want %q", err, tc.want)
		}
	}
	cfg, err := Decode([]byte(minimal))
	if err != nil || cfg.Apps[0].ResolvedSecret() != "" {
		t.Fatalf("Decode: %v, secret resolved %v", err, cfg.Apps[0].ResolvedSecret() != "")
	}
	if _, _, err := Parse([]byte(minimal+"refresh: {cooldown: 0s}\n"), env, noFile); err == nil ||
		err.Error() != "config: refresh.cooldown: 0 is not allowed; omit the key for the default (30s)" {
		t.Errorf("explicit zero: %v", err)
	}
}

func TestConfig_Keys(t *testing.T) {
	cfg := &Config{Redis: RedisConfig{Prefix: "bad prefix"}}
	if _, err := cfg.Keys(); err == nil || err.Error() != "config: redis.prefix: must match [A-Za-z0-9_.:-]{1,64}" {
		t.Errorf("Keys: %v", err)
	}
	cfg.Redis.Prefix = "tk"
	if k, err := cfg.Keys(); err != nil || k.Lease() != "{tk}:lease" {
		t.Errorf("Keys: %v %q", err, k.Lease())
	}
}
