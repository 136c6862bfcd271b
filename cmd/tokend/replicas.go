package main

import (
	"context"
	"time"

	"k8s.io/utils/clock"

	"github.com/tokend/tokend/store/fleet"
)

// replicaInterval is how often a replica rewrites its registry entry;
// well below fleet.ReplicaStale, so a live replica never looks stale.
const replicaInterval = 5 * time.Second

// replicaStore is what the registry loop needs of package store.
type replicaStore interface {
	PutReplica(ctx context.Context, r fleet.ReplicaInfo) error
	DeleteReplica(ctx context.Context, id string) error
}

// registry keeps this replica's entry in {prefix}:replicas: written at
// once and every replicaInterval (seen is Redis TIME, see
// store.PutReplica), removed when Run ends (a clean shutdown). A killed
// replica's entry stays and turns stale. Not safe for concurrent use: one
// Run.
type registry struct {
	st       replicaStore
	info     func() fleet.ReplicaInfo // the entry as of now (leader flag)
	clock    clock.WithTicker
	interval time.Duration
	timeout  time.Duration // bounds each write
	warn     func(ctx context.Context, msg string, args ...any)
}

// Run writes the entry until ctx ends, then deletes it with a fresh,
// short context.
func (r *registry) Run(ctx context.Context) error {
	t := r.clock.NewTicker(r.interval)
	defer t.Stop()
	for {
		wctx, cancel := context.WithTimeout(ctx, r.timeout)
		err := r.st.PutReplica(wctx, r.info())
		cancel()
		if err != nil && ctx.Err() == nil {
			r.warn(ctx, "replicas: writing this replica's registry entry failed", "err", err)
		}
		select {
		case <-ctx.Done():
			dctx, dcancel := context.WithTimeout(context.Background(), r.timeout)
			defer dcancel()
			if err := r.st.DeleteReplica(dctx, r.info().ID); err != nil {
				r.warn(dctx, "replicas: removing this replica's registry entry failed; it turns stale in a minute", "err", err)
			}
			return nil
		case <-t.C():
		}
	}
}
