package store

import (
	"context"
	"fmt"
)

// CountTokenKeys returns how many of apps' token keys exist, with one
// EXISTS command (all keys share the hash tag, so this works on Cluster
// too). Invalid app ids count as missing.
func (s *Store) CountTokenKeys(ctx context.Context, apps []string) (int, error) {
	keys := make([]string, 0, len(apps))
	for _, a := range apps {
		if ValidCredential(a) {
			keys = append(keys, s.keys.Token(a))
		}
	}
	if len(keys) == 0 {
		return 0, nil
	}
	n, err := s.rdb.Exists(ctx, keys...).Result()
	if err != nil {
		return 0, fmt.Errorf("store: count token keys: %w", err)
	}
	return int(n), nil
}
