package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
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
}

// partHooks are what a running replica adds to the parts; check leaves
// them zero.
type partHooks struct {
	onCorrupt func(*store.CorruptError)
	observer  refresher.Observer
	log       *slog.Logger
	// readFile and stat re-read secret_file (secretFile); default
	// os.ReadFile and os.Stat.
	readFile func(string) ([]byte, error)
	stat     func(string) (fs.FileInfo, error)
	// secretReloaded is told each secret_file change (audit trail).
	secretReloaded func(field, outcome string)
}

// newParts builds the store, elector, providers and refresher of cfg on
// rdb. A Config field a library rejects comes back as a *configError
// naming its YAML path.
func newParts(cfg *Config, rdb redis.UniversalClient, h partHooks) (*parts, error) {
	st, err := store.New(store.Config{
		Client: rdb, Prefix: cfg.Redis.Prefix,
		MinReplicasAck: cfg.Redis.MinReplicasAck, WaitTimeout: cfg.Redis.WaitTimeout,
		ClientTimeout: cfg.Redis.Timeout, OnCorrupt: h.onCorrupt,
	})
	if err != nil {
		return nil, libError(err, "")
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
		return nil, libError(err, "")
	}
	apps := make([]refresher.App, 0, len(cfg.Apps))
	var owner []int // owner[n]: the config index of refresher app n
	secrets := make([]func() string, 0, len(cfg.Apps))
	for i, a := range cfg.Apps {
		path := fmt.Sprintf("apps[%d]", i)
		secret := secretSource(a, path+".secret_file", h, logger)
		secrets = append(secrets, secret)
		built, err := buildApp(a, secret, cfg.Refresh.MinExpiresIn)
		if err != nil {
			return nil, libError(err, path)
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
		return nil, libError(ownerIndex(err, owner), "")
	}
	return &parts{store: st, lock: el, ref: ref, hub: hub, secrets: secrets}, nil
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
func checkParts(cfg *Config, getenv func(string) string) error {
	rdb, err := newRedis(cfg.Redis, getenv)
	if err != nil {
		return &configError{msg: err.Error()}
	}
	defer rdb.Close()
	_, err = newParts(cfg, rdb, partHooks{log: slog.New(slog.DiscardHandler)})
	return err
}

// The YAML path each library Config field is set from. A field missing
// here is not set from the file (Client, Key, ...): its error is a bug in
// the wiring, not in the config, and is returned as it is.
var (
	lockPaths = map[string]string{
		"ID": "replica_id", "ClientTimeout": "redis.timeout",
		"LeaseTTL": "election.lease_ttl", "RenewInterval": "election.renew_interval",
		"RenewDeadline": "election.renew_deadline", "RetryInterval": "election.retry_interval",
	}
	storePaths = map[string]string{
		"Prefix": "redis.prefix", "MinReplicasAck": "redis.min_replicas_ack",
		"WaitTimeout": "redis.wait_timeout", "ClientTimeout": "redis.timeout",
	}
	refresherPaths = map[string]string{
		"Apps": "apps", "BeforeExpiry": "refresh.before_expiry", "SafetyMargin": "refresh.safety_margin",
		"Cooldown": "refresh.cooldown", "DailyBudget": "refresh.daily_budget",
	}
	// providerPaths: a provider package's *upstream.FieldError fields (every
	// provider's); {app} is the app's own path (apps[i]).
	providerPaths = map[string]string{
		"AppID": "{app}.appid", "CorpID": "{app}.appid", "AppKey": "{app}.appid",
		"Secret": "{app}.secret", "SecretFunc": "{app}.secret", "BaseURL": "{app}.base_url", "Kind": "{app}.tickets",
		"MinExpiresIn": "refresh.min_expires_in",
	}
)

var (
	goName    = regexp.MustCompile(`\b[A-Z][A-Za-z]*\b`)
	appIDPath = regexp.MustCompile(`^Apps\[(\d+)\]\.ID$`)
)

// libError maps a library's *FieldError to a *configError: the field and
// the fields its message names become YAML paths. app is the app's own
// path (apps[i]) for a provider's error.
func libError(err error, app string) error {
	var (
		field, msg string
		paths      map[string]string
		le         *lock.FieldError
		se         *store.FieldError
		re         *refresher.FieldError
		we         *upstream.FieldError
	)
	switch {
	case errors.As(err, &le):
		field, msg, paths = le.Field, le.Msg, lockPaths
	case errors.As(err, &se):
		field, msg, paths = se.Field, se.Msg, storePaths
	case errors.As(err, &re):
		field, msg, paths = re.Field, re.Msg, refresherPaths
		if m := appIDPath.FindStringSubmatch(field); m != nil {
			return &configError{field: "apps[" + m[1] + "].id", msg: msg}
		}
	case errors.As(err, &we):
		field, msg, paths = we.Field, we.Msg, providerPaths
	default:
		return err
	}
	lookup := func(name string) (string, bool) {
		p, ok := paths[name]
		return strings.Replace(p, "{app}", app, 1), ok
	}
	path, ok := lookup(field)
	if !ok {
		return err
	}
	msg = goName.ReplaceAllStringFunc(msg, func(name string) string {
		if ref, ok := lookup(name); ok {
			return relativePath(ref, path)
		}
		return name
	})
	return &configError{field: path, msg: msg}
}

// relativePath is how a message about path names ref: by its key alone
// within the timing sections (election.renew_deadline: must be less than
// lease_ttl), in full elsewhere, where a key alone (timeout) is ambiguous.
func relativePath(ref, path string) string {
	sec, key, _ := strings.Cut(ref, ".")
	if ref != path && (sec == "election" || sec == "refresh") && strings.HasPrefix(path, sec+".") {
		return key
	}
	return ref
}
