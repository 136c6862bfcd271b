package config

import "testing"

// TestRelativePath: how a mapped message names of library field names to YAML paths
// (references within election and refresh by key, elsewhere in full).
func TestRelativePath(t *testing.T) {
	for _, tc := range []struct{ ref, path, want string }{
		{"election.lease_ttl", "election.renew_deadline", "lease_ttl"},
		{"election.renew_deadline", "redis.timeout", "election.renew_deadline"},
		{"redis.timeout", "redis.wait_timeout", "redis.timeout"},
		{"redis.timeout", "redis.timeout", "redis.timeout"},
		{"refresh.safety_margin", "refresh.before_expiry", "safety_margin"},
		{"election.lease_ttl", "election.lease_ttl", "election.lease_ttl"},
	} {
		if got := relativePath(tc.ref, tc.path); got != tc.want {
			t.Errorf("relativePath(%s, %s) = %s, want %s", tc.ref, tc.path, got, tc.want)
		}
	}
}
