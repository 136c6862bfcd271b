package fleet

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/tokend/tokend/store"
)

//go:embed lua/read_leader.lua
var luaReadLeader string

var readLeaderScript = store.NewScript(luaReadLeader)

// Leader is what Redis says about the current leadership.
type Leader struct {
	// Held: the lease key exists (someone leads).
	Held bool
	// ID and Epoch are of the last leader to start a term.
	ID    string
	Epoch int64
}

// Leader reads the lease and the last term (written by package lock). A
// wrong-typed epoch key or an unparsable epoch reads as no term.
func (s *Store) Leader(ctx context.Context) (Leader, error) {
	keys := s.Keys()
	res, err := readLeaderScript.Run(ctx, s.Client(), []string{keys.Lease(), keys.Epoch()}).Slice()
	if err != nil {
		return Leader{}, fmt.Errorf("fleet: read leader: %w", err)
	}
	if len(res) != 3 {
		return Leader{}, fmt.Errorf("fleet: read leader: unexpected reply of %d values", len(res))
	}
	held := store.ReplyInt(res[0])
	l := Leader{Held: held > 0 || held == -1, Epoch: store.ReplyInt(res[1])}
	l.ID, _ = res[2].(string)
	return l, nil
}
