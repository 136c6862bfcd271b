package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/cmd/tokend/internal/callback"
	"github.com/tokend/tokend/cmd/tokend/internal/config"
	"github.com/tokend/tokend/cmd/tokend/internal/providers"
	"github.com/tokend/tokend/cmd/tokend/internal/secretfile"
	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/openplatform/keeper"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/fleet"
)

// parts are the library objects a replica is built from. Each is made,
// defaulted and validated by its own package's constructor; none of them
// does I/O, so `tokend check` builds them too and a config it accepts
// cannot fail them at start.
type parts struct {
	store *store.Store
	lock  *lock.Elector
	ref   *refresher.Refresher
	hub   *event.Hub // the one subscription to the events channel, shared by all three
	// secrets[i] gives cfg.Apps[i]'s current secret (the WeChat-shaped
	// routes check it).
	secrets []func() string
	// callback is the components' push route (nil without components);
	// keepers keep their authorizer tokens (authorizers.go).
	callback *callback.Handler
	keepers  []*keeper.Keeper
}

// partHooks are what a running replica adds to the parts; check leaves
// them zero.
type partHooks struct {
	onCorrupt func(*store.CorruptError)
	observer  refresher.Observer
	log       *slog.Logger
	// readFile and stat re-read secret_file (package secretfile); default
	// os.ReadFile and os.Stat.
	readFile func(string) ([]byte, error)
	stat     func(string) (fs.FileInfo, error)
	// secretReloaded is told each secret_file change (audit trail).
	secretReloaded func(field, outcome string)
	// audit records what the push route and the keepers did; repeats
	// limits the push route's repeated log lines.
	audit   func(fleet.AuditEntry)
	repeats callback.Repeats
	// keepers is told what the authorizer keepers do (metrics).
	keepers keeper.Observer
}

// newParts builds the store, elector, providers, refresher, push route and
// authorizer keepers of cfg on rdb. A Config field a library rejects comes
// back as a *config.Error naming its YAML path.
func newParts(cfg *config.Config, rdb redis.UniversalClient, h partHooks) (*parts, error) {
	st, err := store.New(store.Config{
		Client: rdb, Prefix: cfg.Redis.Prefix,
		MinReplicasAck: cfg.Redis.MinReplicasAck, WaitTimeout: cfg.Redis.WaitTimeout,
		ClientTimeout: cfg.Redis.Timeout, OnCorrupt: h.onCorrupt,
	})
	if err != nil {
		return nil, config.LibraryError(err, "")
	}
	logger := h.log
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hub, err := newEventHub(st, logger)
	if err != nil {
		return nil, err
	}
	keys := st.Keys()
	el, err := lock.New(lock.Config{
		Client: rdb, Key: keys.Lease(), EpochKey: keys.Epoch(), Channel: keys.Events(), ID: cfg.ReplicaID,
		LeaseTTL: cfg.Election.LeaseTTL, RenewInterval: cfg.Election.RenewInterval,
		RenewDeadline: cfg.Election.RenewDeadline, RetryInterval: cfg.Election.RetryInterval,
		ClientTimeout: cfg.Redis.Timeout, Logger: h.log, Events: hub,
	})
	if err != nil {
		return nil, config.LibraryError(err, "")
	}
	apps := make([]refresher.App, 0, len(cfg.Apps))
	var owner []int // owner[n]: the config index of refresher app n
	secrets := make([]func() string, 0, len(cfg.Apps))
	for i, a := range cfg.Apps {
		path := fmt.Sprintf("apps[%d]", i)
		secret := secretSource(a, path+".secret_file", h, logger)
		secrets = append(secrets, secret)
		built, err := providers.Build(a.ProviderApp(), secret, cfg.Refresh.MinExpiresIn)
		if err != nil {
			return nil, config.LibraryError(err, path)
		}
		apps = append(apps, built...)
		for range built {
			owner = append(owner, i)
		}
	}
	comps, err := buildComponents(cfg, st, h, logger)
	if err != nil {
		return nil, err
	}
	apps = append(apps, comps...)
	ref, err := refresher.New(refresher.Config{
		Store: st, Elector: el, Apps: apps,
		BeforeExpiry: cfg.Refresh.BeforeExpiry, SafetyMargin: cfg.Refresh.SafetyMargin,
		Cooldown: cfg.Refresh.Cooldown, DailyBudget: cfg.Refresh.DailyBudget,
		Observer: h.observer, Logger: h.log, Events: hub,
	})
	if err != nil {
		return nil, config.LibraryError(ownerIndex(err, owner), "")
	}
	cb, err := newCallback(cfg, st, logger, h.repeats, h.audit)
	if err != nil {
		return nil, err
	}
	keepers, err := newKeepers(cfg, st, ref.Leading, hub, logger, h.audit, h.keepers)
	if err != nil {
		return nil, err
	}
	return &parts{store: st, lock: el, ref: ref, hub: hub, secrets: secrets, callback: cb, keepers: keepers}, nil
}

// ownerIndex rewrites a refresher error about Apps[n] (n counts tickets
// too) to the index of the configured app n belongs to.
func ownerIndex(err error, owner []int) error {
	var re *refresher.FieldError
	if !errors.As(err, &re) {
		return err
	}
	m := appsIndex.FindStringSubmatch(re.Field)
	if m == nil {
		return err
	}
	n, _ := strconv.Atoi(m[1])
	if n < 0 || n >= len(owner) {
		return err
	}
	return &refresher.FieldError{Field: fmt.Sprintf("Apps[%d]%s", owner[n], m[2]), Msg: re.Msg}
}

var appsIndex = regexp.MustCompile(`^Apps\[(\d+)\](.*)$`)

// checkParts builds the parts of cfg as a start would, on a client that
// is never dialled, and drops them.
func checkParts(cfg *config.Config, getenv func(string) string) error {
	rdb, err := newRedis(cfg.Redis, getenv)
	if err != nil {
		return &config.Error{Msg: err.Error()}
	}
	defer rdb.Close()
	_, err = newParts(cfg, rdb, partHooks{log: slog.New(slog.DiscardHandler)})
	return err
}

// secretSource returns the function that gives a's current secret: the
// watcher of its secret_file, or the value validation resolved (env,
// literal).
func secretSource(a config.AppConfig, field string, h partHooks, log *slog.Logger) func() string {
	if a.SecretFile == "" {
		secret := a.ResolvedSecret()
		return func() string { return secret }
	}
	return secretfile.New(secretfile.Config{
		Field: field, Path: a.SecretFile, Initial: a.ResolvedSecret(), ReadFile: h.readFile, Stat: h.stat,
		Logger: log, Reloaded: h.secretReloaded,
	}).Secret
}
