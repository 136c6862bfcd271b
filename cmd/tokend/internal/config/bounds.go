package config

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/store"
)

// durationRule is one duration setting: its default (used only when the
// key is omitted; the library's own default where a library has one) and
// the closed range an explicit value must fall in.
//
// The ranges are tokend's operating policy, not library invariants: they
// catch a mistyped unit (lease_ttl: 10h) in a deployment's file, while the
// libraries accept any consistent values (their tests and tokenbench run
// at compressed time scales). The rules between settings (renew_deadline <
// lease_ttl, wait_timeout < timeout, ...) are the libraries' and checked
// by their constructors (parts.go).
type durationRule struct {
	path          string
	p             *time.Duration
	def, min, max time.Duration
}

// defaultRedisTimeout is redis.timeout's default: the Redis client's
// socket timeouts, which tokend sets (redis.go).
const defaultRedisTimeout = time.Second

func (c *Config) durationRules() []durationRule {
	ms := time.Millisecond
	return []durationRule{
		{"redis.timeout", &c.Redis.Timeout, defaultRedisTimeout, 10 * ms, time.Minute},
		{"redis.wait_timeout", &c.Redis.WaitTimeout, store.DefaultWaitTimeout, ms, time.Minute},
		{"election.lease_ttl", &c.Election.LeaseTTL, lock.DefaultLeaseTTL, time.Second, 10 * time.Minute},
		{"election.renew_interval", &c.Election.RenewInterval, lock.DefaultRenewInterval, 10 * ms, 10 * time.Minute},
		{"election.renew_deadline", &c.Election.RenewDeadline, lock.DefaultRenewDeadline, 10 * ms, 10 * time.Minute},
		{"election.retry_interval", &c.Election.RetryInterval, lock.DefaultRetryInterval, 10 * ms, 10 * time.Minute},
		{"refresh.before_expiry", &c.Refresh.BeforeExpiry, refresher.DefaultBeforeExpiry, 10 * ms, time.Hour},
		{"refresh.safety_margin", &c.Refresh.SafetyMargin, refresher.DefaultSafetyMargin, 10 * ms, 30 * time.Minute},
		{"refresh.cooldown", &c.Refresh.Cooldown, refresher.DefaultCooldown, 100 * ms, time.Hour},
		{"refresh.min_expires_in", &c.Refresh.MinExpiresIn, wechat.DefaultMinExpiresIn, time.Second, wechat.MaxExpiresIn},
	}
}

// check returns the error for a value outside the rule's range. An
// explicit zero gets its own message: zero never means "default".
func (r durationRule) check() error {
	d := *r.p
	if d == 0 {
		return fieldErr(r.path, "0 is not allowed; omit the key for the default (%s)", r.def)
	}
	if d < r.min || d > r.max {
		return fieldErr(r.path, "must be between %s and %s, got %s", r.min, r.max, d)
	}
	return nil
}

// presentKeys returns the dotted path (redis.timeout, apps[0].id) of every
// mapping key in the document, so that an omitted key (default) can be
// told from an explicit zero (an error where zero means nothing).
func presentKeys(n *yaml.Node) map[string]bool {
	out := map[string]bool{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				path := joinPath(prefix, n.Content[i].Value)
				out[path] = true
				walk(n.Content[i+1], path)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", prefix, i))
			}
		}
	}
	walk(n, "")
	return out
}

// duplicateKey returns an error naming the first key that a mapping holds
// twice (yaml would keep one of them silently or fail vaguely), or nil.
func duplicateKey(n *yaml.Node, prefix string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := duplicateKey(c, prefix); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			path := joinPath(prefix, k.Value)
			if line, dup := first[k.Value]; dup && k.Value != "<<" {
				return fieldErr(path, "duplicate key (lines %d and %d)", line, k.Line)
			}
			first[k.Value] = k.Line
			if err := duplicateKey(n.Content[i+1], path); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := duplicateKey(c, fmt.Sprintf("%s[%d]", prefix, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
