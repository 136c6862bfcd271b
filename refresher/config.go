package refresher

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/utils/clock"

	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

// Defaults of Config, and the daily budget's bounds.
const (
	DefaultBeforeExpiry = 10 * time.Minute
	DefaultSafetyMargin = time.Minute
	DefaultCooldown     = 30 * time.Second
	DefaultDailyBudget  = 1000
	// MaxDailyBudget is WeChat's daily quota of token calls per app, the
	// quota every provider tokend has counts against: a budget above it
	// would never bind.
	MaxDailyBudget = 2000
	// NoDailyBudget as Config.DailyBudget turns the budget off.
	NoDailyBudget = -1
)

// Config configures a Refresher. Zero durations take the defaults named.
type Config struct {
	Store   Store
	Elector Elector
	// Apps are the apps to keep fresh: at least one, ids valid
	// (store.ValidCredential) and unique, each with a Provider.
	Apps []App
	// BeforeExpiry: refresh this long before expiry. Default
	// DefaultBeforeExpiry (10m). Must be greater than SafetyMargin.
	BeforeExpiry time.Duration
	// SafetyMargin is taken off expires_at for the token key's TTL, capped
	// at 10% of the lifetime. Default DefaultSafetyMargin (1m).
	SafetyMargin time.Duration
	// Cooldown: a report does not cause a fetch until the current token is
	// this old. Default DefaultCooldown (30s).
	Cooldown time.Duration
	// DailyBudget caps fetches per app and day: 1 to MaxDailyBudget, or
	// NoDailyBudget (-1) for no cap. Default DefaultDailyBudget (1000).
	DailyBudget int
	// Workers bounds concurrent fetches. Default 8.
	Workers int
	// FetchTimeout bounds one check (reads, upstream call, write). Default 15s.
	FetchTimeout time.Duration
	// RetryMin and RetryMax bound the backoff of transient errors.
	// Defaults 1s and 1m.
	RetryMin, RetryMax time.Duration
	// ConfigRetry is the retry interval after configuration or permission
	// errors. Default 5m.
	ConfigRetry time.Duration
	// ReportPoll: how often pending reports are read even without an
	// event and token keys are checked for existence (a lost key is
	// refetched within it). Default 30s.
	ReportPoll time.Duration
	// Observer receives metrics events. Optional.
	Observer Observer
	Clock    clock.WithTicker
	Logger   *slog.Logger

	// Events, when set, is the process's shared subscription to the
	// events channel (an *event.Hub the caller runs): the leader listens
	// to it for reports. Default nil: each term subscribes through Store.
	Events EventSource
}

// FieldError is a Config field New rejects (Apps[1].ID for an app's).
// Msg names other fields by their Go names (SafetyMargin), so that a
// caller can map them, with Field, to its own configuration's names.
type FieldError struct {
	Field string // "BeforeExpiry"
	Msg   string // "must be greater than SafetyMargin (1m0s): ..."
}

func (e *FieldError) Error() string { return "refresher: " + e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.BeforeExpiry, DefaultBeforeExpiry)
	def(&c.SafetyMargin, DefaultSafetyMargin)
	def(&c.Cooldown, DefaultCooldown)
	def(&c.FetchTimeout, 15*time.Second)
	def(&c.RetryMin, time.Second)
	def(&c.RetryMax, time.Minute)
	def(&c.ConfigRetry, 5*time.Minute)
	def(&c.ReportPoll, 30*time.Second)
	if c.DailyBudget == 0 {
		c.DailyBudget = DefaultDailyBudget
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return fieldErr("Store", "required")
	case c.Elector == nil:
		return fieldErr("Elector", "required")
	}
	if err := c.validateApps(); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"BeforeExpiry", c.BeforeExpiry}, {"SafetyMargin", c.SafetyMargin}, {"Cooldown", c.Cooldown},
		{"FetchTimeout", c.FetchTimeout}, {"RetryMin", c.RetryMin}, {"RetryMax", c.RetryMax},
		{"ConfigRetry", c.ConfigRetry}, {"ReportPoll", c.ReportPoll},
	} {
		if d.d < 0 {
			return fieldErr(d.name, "must not be negative")
		}
	}
	switch {
	case c.BeforeExpiry <= c.SafetyMargin:
		// The key expires SafetyMargin before the token: refreshing later
		// than that leaves readers without a token.
		return fieldErr("BeforeExpiry", "must be greater than SafetyMargin (%s): the key expires that much before the token", c.SafetyMargin)
	case c.RetryMin > c.RetryMax:
		return fieldErr("RetryMin", "must not exceed RetryMax (%s)", c.RetryMax)
	case c.Workers < 0:
		return fieldErr("Workers", "must not be negative")
	case c.DailyBudget < NoDailyBudget || c.DailyBudget > MaxDailyBudget:
		return fieldErr("DailyBudget", "must be from 1 to %d (WeChat's daily limit), or %d for no budget; omit it for %d, got %d",
			MaxDailyBudget, NoDailyBudget, DefaultDailyBudget, c.DailyBudget)
	}
	return nil
}

func (c *Config) validateApps() error {
	if len(c.Apps) == 0 {
		return fieldErr("Apps", "at least one app required")
	}
	byID := map[string]App{}
	for i, a := range c.Apps {
		f := fmt.Sprintf("Apps[%d].", i)
		switch {
		case a.ID == "":
			return fieldErr(f+"ID", "required")
		case !store.ValidCredential(a.ID):
			return fieldErr(f+"ID", "%q is not a credential id: must match [A-Za-z0-9_.-]{1,64}, optionally followed by /<appid> and :<kind>", a.ID)
		case byID[a.ID].ID != "":
			return fieldErr(f+"ID", "duplicate id %q", a.ID)
		case a.Provider == nil:
			return fieldErr(f+"Provider", "required")
		}
		byID[a.ID] = a
	}
	for i, a := range c.Apps {
		if err := validateApp(fmt.Sprintf("Apps[%d].", i), a, byID); err != nil {
			return err
		}
	}
	return nil
}

// validateApp checks a credential's kind rules: a ticket names a
// configured token as its parent and is called "<parent>:<kind>"; probes
// are for tokens; repeat rules and budgets are known and valid.
func validateApp(f string, a App, byID map[string]App) error {
	parent, kind := store.Parent(a.ID)
	switch {
	case a.Parent == "" && kind != "":
		return fieldErr(f+"Parent", "required: %q names a ticket of %q", a.ID, parent)
	case a.Parent != "" && (parent != a.Parent || kind == ""):
		return fieldErr(f+"ID", "a ticket of %q must be called %q:<kind>, got %q", a.Parent, a.Parent, a.ID)
	case a.Parent != "" && byID[a.Parent].ID == "":
		return fieldErr(f+"Parent", "%q is not a configured app", a.Parent)
	case a.Parent != "" && byID[a.Parent].Parent != "":
		return fieldErr(f+"Parent", "%q is a ticket itself; a parent must be an access token", a.Parent)
	case a.Parent != "" && a.Kind != "" && a.Kind != kind:
		return fieldErr(f+"Kind", "%q does not match the id's kind %q", a.Kind, kind)
	case a.Repeat < upstream.RepeatNew || a.Repeat > upstream.RepeatSameFirstSeen:
		return fieldErr(f+"Repeat", "unknown repeat rule %d", int(a.Repeat))
	case a.ProbeEvery < 0:
		return fieldErr(f+"ProbeEvery", "must not be negative")
	case a.ProbeEvery > 0 && a.Prober == nil:
		return fieldErr(f+"Prober", "required with ProbeEvery")
	case a.Prober != nil && a.Parent != "":
		return fieldErr(f+"Prober", "only an access token is probed, not a ticket")
	}
	if err := store.CheckBudgets(a.Budgets); err != nil {
		return fieldErr(f+"Budgets", "%s", strings.TrimPrefix(err.Error(), "store: "))
	}
	return nil
}
