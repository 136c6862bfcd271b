package main

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// durationRule is one duration setting: its default (used only when the
// key is omitted) and the closed range an explicit value must fall in. The
// rules between settings (renew_deadline < lease_ttl, ...) are in
// validate.go. Every duration's default and bounds are defined here, once.
type durationRule struct {
	path          string
	p             *time.Duration
	def, min, max time.Duration
}

func (c *Config) durationRules() []durationRule {
	ms := time.Millisecond
	return []durationRule{
		{"redis.timeout", &c.Redis.Timeout, time.Second, 10 * ms, time.Minute},
		{"redis.wait_timeout", &c.Redis.WaitTimeout, 250 * ms, ms, time.Minute},
		{"election.lease_ttl", &c.Election.LeaseTTL, 15 * time.Second, time.Second, 10 * time.Minute},
		{"election.renew_interval", &c.Election.RenewInterval, 5 * time.Second, 10 * ms, 10 * time.Minute},
		{"election.renew_deadline", &c.Election.RenewDeadline, 10 * time.Second, 10 * ms, 10 * time.Minute},
		{"election.retry_interval", &c.Election.RetryInterval, 2 * time.Second, 10 * ms, 10 * time.Minute},
		{"refresh.before_expiry", &c.Refresh.BeforeExpiry, 10 * time.Minute, 10 * ms, time.Hour},
		{"refresh.safety_margin", &c.Refresh.SafetyMargin, time.Minute, 10 * ms, 30 * time.Minute},
		{"refresh.cooldown", &c.Refresh.Cooldown, 30 * time.Second, 100 * ms, time.Hour},
		{"refresh.min_expires_in", &c.Refresh.MinExpiresIn, 60 * time.Second, time.Second, 24 * time.Hour},
	}
}

// Daily budget: WeChat allows 2000 token calls per app per day.
const (
	defaultDailyBudget = 1000
	maxDailyBudget     = 2000
)

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
