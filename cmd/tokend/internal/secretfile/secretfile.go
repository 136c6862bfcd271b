// Package secretfile watches a secret_file: the secret is re-read when the
// file changes, so a rotated secret is used without a restart. It logs the
// field and path, never the value. It does not watch with inotify (a use
// stats the file, at most once a second) and does not promise that a
// rotation is seen before the next use after the change.
package secretfile

import (
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// CheckEvery bounds how often a File looks at its file: a use within
// this long of the last look returns the value at hand.
const CheckEvery = time.Second

// File is an app's secret_file, re-read when the file changes, so a
// rotated secret is used without a restart. Each use (Secret) stats the
// file, at most once per CheckEvery, and reads it again when its
// size or modification time changed (a Kubernetes secret volume swaps a
// symlink: the stat follows it). A file that becomes unreadable or empty
// keeps the last good value in use; that is logged once, with the field
// and path and never the value, and once more when the file is good
// again. Safe for concurrent use.
type File struct {
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

// Config configures a File. Field and Path are required.
type Config struct {
	Field   string // the YAML path (apps[0].secret_file), for the log
	Path    string // the file
	Initial string // the value validation read; the first use looks again
	// ReadFile and Stat default to os.ReadFile and os.Stat, Clock to the
	// real clock, Logger to discarding.
	ReadFile func(string) ([]byte, error)
	Stat     func(string) (fs.FileInfo, error)
	Clock    clock.PassiveClock
	Logger   *slog.Logger
	// Reloaded, if set, is told each change ("changed", "failed",
	// "recovered") for the audit trail; called with the File's lock held.
	Reloaded func(field, outcome string)
}

// New returns the watcher of cfg.Path, starting from cfg.Initial. Its
// first use looks at the file.
func New(cfg Config) *File {
	if cfg.ReadFile == nil {
		cfg.ReadFile = os.ReadFile
	}
	if cfg.Stat == nil {
		cfg.Stat = os.Stat
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &File{field: cfg.Field, path: cfg.Path, value: cfg.Initial, read: cfg.ReadFile, stat: cfg.Stat,
		clock: cfg.Clock, log: cfg.Logger, reloaded: cfg.Reloaded}
}

// Secret returns the current secret: the file's content (white space
// trimmed) as last read, or the last good value while the file is
// unreadable or empty.
func (s *File) Secret() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	if since := now.Sub(s.checked); !s.checked.IsZero() && since >= 0 && since < CheckEvery {
		return s.value
	}
	s.checked = now
	s.look()
	return s.value
}

// look stats the file and reads it again if it changed. s.mu is held.
func (s *File) look() {
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
func (s *File) fail(why string, err error) {
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

func (s *File) notify(outcome string) {
	if s.reloaded != nil {
		s.reloaded(s.field, outcome)
	}
}
