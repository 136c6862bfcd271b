package store

import (
	"errors"
	"fmt"
	"strings"
)

// ErrCorrupt: a key of the deployment holds something tokend did not
// write (a wrong type, an unparsable field). What is in Redis is input:
// callers must not spend an upstream call or a budget unit because of it.
// Errors that wrap it are *CorruptError values.
var ErrCorrupt = errors.New("store: corrupt key")

// CorruptError names the key (and field) that could not be used. It never
// carries the key's value: that could be a token.
type CorruptError struct {
	App      string // the app whose key it is; "" for a key shared by all apps
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

// maxSafeInt is the largest integer a Lua number (a double) holds exactly:
// scripts refuse any integer above it, and so does Go before calling them.
const maxSafeInt = 1<<53 - 1

// parseCorrupt decodes the corrupt list of a script reply (entries
// "key\tfield\tdetail\trepaired", see lua/prelude.lua) for app ("" for a
// key shared by all apps).
func parseCorrupt(v any, app string) []*CorruptError {
	list, _ := v.([]any)
	out := make([]*CorruptError, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		f := strings.SplitN(s, "\t", 4)
		if len(f) != 4 {
			continue
		}
		out = append(out, &CorruptError{App: app, Key: f[0], Field: f[1], Detail: f[2], Repaired: f[3] == "1"})
	}
	return out
}

// noteCorrupt hands each entry to the Store's Config.OnCorrupt (none for
// a Records from NewRecords).
func (r *Records) noteCorrupt(list []*CorruptError) {
	if r.onCorrupt == nil {
		return
	}
	for _, c := range list {
		r.onCorrupt(c)
	}
}

// firstUnrepaired returns the first entry not repaired, or nil.
func firstUnrepaired(list []*CorruptError) *CorruptError {
	for _, c := range list {
		if !c.Repaired {
			return c
		}
	}
	return nil
}
