package eviction

import (
	"strings"
	"testing"
)

func TestEvictionWarning(t *testing.T) {
	for _, tc := range []struct {
		policy    string
		maxmemory int64
		want      string // "" no warning
	}{
		{"noeviction", 0, ""},
		{"noeviction", 1 << 20, ""},
		{"allkeys-lru", 1 << 20, "any of tokend's keys"},
		{"allkeys-lfu", 1 << 20, "the lease and epoch"},
		{"allkeys-random", 1 << 20, "under memory pressure"},
		{"volatile-lru", 1 << 20, "carry a TTL"},
		{"volatile-lfu", 1 << 20, "token keys"},
		{"volatile-random", 1 << 20, "the lease"},
		{"volatile-ttl", 1 << 20, "budgets"},
		{"allkeys-lru", 0, "as soon as maxmemory is set"},
		{"something-new", 1 << 20, "unknown policy"},
	} {
		got := Warning(tc.policy, tc.maxmemory)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) || (got != "" && !strings.Contains(got, "noeviction")) {
			t.Errorf("Warning(%q, %d) = %q, want one mentioning %q", tc.policy, tc.maxmemory, got, tc.want)
		}
	}
}

func TestParseInfoMemory(t *testing.T) {
	info := "# Memory\r\nused_memory:1000\r\nmaxmemory:2097152\r\nmaxmemory_human:2.00M\r\nmaxmemory_policy:allkeys-lru\r\n"
	if p, m, ok := parseInfoMemory(info); !ok || p != "allkeys-lru" || m != 2097152 {
		t.Fatalf("got %q %d %v", p, m, ok)
	}
	if _, _, ok := parseInfoMemory("# Memory\r\nused_memory:1\r\n"); ok {
		t.Fatal("no policy: ok")
	}
}
