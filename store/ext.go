package store

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// Extension points for packages that keep their own keys under the
// deployment's hash tag (store/platform, store/fleet): they build on a Store with the
// same scripts prelude, the same fenced write and the same corruption
// reporting, instead of copying them. Ordinary callers need none of this.

// ErrWriteRefused: a script built with NewWriteScript refused the write
// before it (reply code -4, its own precondition); nothing was written.
var ErrWriteRefused = errors.New("store: write refused by the script's precondition")

// MaxSafeInt is the largest integer a Lua number (a double) holds exactly;
// scripts refuse any integer above it.
const MaxSafeInt = maxSafeInt

// Tag is the deployment's hash tag, "{prefix}": every key starts with it.
func (k Keys) Tag() string { return k.tag }

// NewScript is a script made of lua/prelude.lua (read, bad, report, the
// strict integer rule) followed by body.
func NewScript(body string) *redis.Script { return newScript(body) }

// NewWriteScript is a script made of the prelude, write_token.lua as the
// body of a local function write_token(), then body: body may refuse
// before calling write_token() (reply {-4, 0, 0, 0, 0, 0, report(false)})
// and act after it. Its extra KEYS and ARGV follow WriteToken's (KEYS[4..],
// ARGV[12..]). Run it with Store.WriteTokenWith.
func NewWriteScript(body string) *redis.Script {
	return newScript("local function write_token()\n" + luaWriteToken + "\nend\n" + body)
}

// Client is the Redis client the Store uses.
func (s *Store) Client() Client { return s.rdb }

// NoteCorrupt hands each entry to Config.OnCorrupt.
func (s *Store) NoteCorrupt(list ...*CorruptError) { s.recs.noteCorrupt(list) }

// RunScript runs script on keys (keys[0] picks the connection), followed
// by WAIT when Config.MinReplicasAck is set; acked says whether enough
// replicas acknowledged.
func (s *Store) RunScript(ctx context.Context, script *redis.Script, keys []string, args ...any) (cmd *redis.Cmd, acked bool, err error) {
	return s.runScript(ctx, script, keys, args...)
}

// ParseCorrupt decodes the corrupt list (the prelude's report()) of a
// script reply for app.
func ParseCorrupt(v any, app string) []*CorruptError { return parseCorrupt(v, app) }

// FirstUnrepaired returns the first entry of list not repaired, or nil.
func FirstUnrepaired(list []*CorruptError) *CorruptError { return firstUnrepaired(list) }

// WriteTokenWith is WriteToken run with script (from NewWriteScript) and
// its extra keys and arguments: ErrWriteRefused when the script refused
// before writing, WriteToken's results otherwise.
func (s *Store) WriteTokenWith(ctx context.Context, w Write, script *redis.Script, extraKeys []string, extra ...any) (WriteResult, error) {
	if err := checkApp(w.App); err != nil {
		return WriteResult{}, err
	}
	if err := w.check(); err != nil {
		return WriteResult{}, err
	}
	return s.writeToken(ctx, w, script, extraKeys, extra...)
}

// ReplyInt is an integer of a script reply (int64 or its decimal string;
// 0 for anything else).
func ReplyInt(v any) int64 { return toInt(v) }

// IsWrongType reports whether err is Redis's WRONGTYPE reply: the key
// holds another type than the command needs (a *CorruptError case).
func IsWrongType(err error) bool { return isWrongType(err) }
