package store

import (
	"errors"
	"fmt"
)

// ErrCorrupt: a key of the deployment holds something tokend did not
// write (a wrong type, an unparsable field). What is in Redis is input:
// callers must not spend an upstream call or a budget unit because of it.
// Errors that wrap it are *CorruptError values.
var ErrCorrupt = errors.New("store: corrupt key")

// CorruptError names the key (and field) that could not be used. It never
// carries the key's value: that could be a token.
type CorruptError struct {
	Key      string // the full Redis key
	Field    string // the hash field, "" for the whole key
	Detail   string // what is wrong: "wrong type", "not an integer", ...
	Repaired bool   // store repaired the key (the caller may go on)
}

func (e *CorruptError) Error() string {
	where := e.Key
	if e.Field != "" {
		where += " field " + e.Field
	}
	s := fmt.Sprintf("store: corrupt key %s: %s", where, e.Detail)
	if e.Repaired {
		s += " (repaired)"
	}
	return s
}

// Is makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
