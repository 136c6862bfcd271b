package main

import (
	"log/slog"

	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/event"
)

// newEventHub is the replica's one subscription to the events channel,
// shared by the elector (releases, acquisitions, reconnects), the leader's
// report loop and the HTTP API's Reader. run() runs it.
func newEventHub(st *store.Store, log *slog.Logger) (*event.Hub, error) {
	return event.NewHub(event.HubConfig{Subscribe: st.Subscribe, Logger: log.With("component", "events")})
}
