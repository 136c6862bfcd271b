package config

import (
	"errors"
	"regexp"
	"strings"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
)

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

// LibraryError maps a library's typed field error (lock, store, refresher
// and the provider packages' *FieldError) to an *Error: the field and
// the fields its message names become YAML paths. app is the app's own
// path (apps[i]) for a provider's error. Any other error is returned as
// it is.
func LibraryError(err error, app string) error {
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
			return &Error{Field: "apps[" + m[1] + "].id", Msg: msg}
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
	return &Error{Field: path, Msg: msg}
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
