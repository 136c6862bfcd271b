package main

import (
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// secretCheckEvery bounds how often a secretFile looks at its file: a use
// within this long of the last look returns the value at hand.
const secretCheckEvery = time.Second

// secretFile is an app's secret_file, re-read when the file changes, so a
// rotated secret is used without a restart. Each use (Secret) stats the
// file, at most once per secretCheckEvery, and reads it again when its
// size or modification time changed (a Kubernetes secret volume swaps a
// symlink: the stat follows it). A file that becomes unreadable or empty
// keeps the last good value in use; that is logged once, with the field
// and path and never the value, and once more when the file is good
// again. Safe for concurrent use.
type secretFile struct {
	field, path string // apps[i].secret_file and the file, for the log
	read        func(string) ([]byte, error)
	stat        func(string) (fs.FileInfo, error)
	clock       clock.PassiveClock
	log         *slog.Logger
	// reloaded, if set, is told each change ("changed", "failed",
	// "recovered") for the audit trail; called with mu held.
	reloaded func(field, outcome string)

	mu sync.Mutex // guards the fields below
	// value is the last good secret (trimmed, non-empty).
	value string
	// size and mtime are the stat of the file value was read from; known
	// is false until a stat and a read succeeded together.
	size    int64
	mtime   time.Time
	known   bool
	checked time.Time // when the file was last looked at
	failing bool      // the last look failed; logged, not again until fixed
}

// newSecretFile returns the watcher of path, starting from initial (the
// value validation read). Its first use looks at the file. read and stat
// default to os.ReadFile and os.Stat, clk to the real clock.
func newSecretFile(field, path, initial string, read func(string) ([]byte, error), stat func(string) (fs.FileInfo, error), clk clock.PassiveClock, log *slog.Logger) *secretFile {
	if read == nil {
		read = os.ReadFile
	}
	if stat == nil {
		stat = os.Stat
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &secretFile{field: field, path: path, value: initial, read: read, stat: stat, clock: clk, log: log}
}

// Secret returns the current secret: the file's content (white space
// trimmed) as last read, or the last good value while the file is
// unreadable or empty.
func (s *secretFile) Secret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if since := now.Sub(s.checked); !s.checked.IsZero() && since >= 0 && since < secretCheckEvery {
		return s.value
	}
	s.checked = now
	s.look()
	return s.value
}

// look stats the file and reads it again if it changed. s.mu is held.
func (s *secretFile) look() {
	fi, err := s.stat(s.path)
	if err != nil {
		s.fail("cannot stat the file", err)
		return
	}
	if s.known && !s.failing && fi.Size() == s.size && fi.ModTime().Equal(s.mtime) {
		return
	}
	b, err := s.read(s.path)
	if err != nil {
		s.fail("cannot read the file", err)
		return
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		s.fail("the file is empty", nil)
		return
	}
	changed := v != s.value
	s.value, s.size, s.mtime, s.known = v, fi.Size(), fi.ModTime(), true
	if s.failing {
		s.failing = false
		s.log.Info("tokend: secret_file is readable again", "field", s.field, "path", s.path)
		s.notify("recovered")
	}
	if changed {
		s.log.Info("tokend: secret_file changed; the new secret is used from the next upstream call", "field", s.field, "path", s.path)
		s.notify("changed")
	}
}

// fail logs a failed look once, until a look succeeds.
func (s *secretFile) fail(why string, err error) {
	if s.failing {
		return
	}
	s.failing = true
	args := []any{"field", s.field, "path", s.path}
	if err != nil {
		args = append(args, "err", err)
	}
	s.log.Warn("tokend: secret_file: "+why+"; keeping the last good secret", args...)
	s.notify("failed")
}

func (s *secretFile) notify(outcome string) {
	if s.reloaded != nil {
		s.reloaded(s.field, outcome)
	}
}

// secretSource returns the function that gives a's current secret: the
// watcher of its secret_file, or the value validation resolved (env,
// literal).
func secretSource(a AppConfig, field string, h partHooks, log *slog.Logger) func() string {
	if a.SecretFile == "" {
		secret := a.secret
		return func() string { return secret }
	}
	sf := newSecretFile(field, a.SecretFile, a.secret, h.readFile, h.stat, nil, log)
	sf.reloaded = h.secretReloaded
	return sf.Secret
}
