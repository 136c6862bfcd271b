package secretfile

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/integration/harness"
)

// fakeFile is a secret file whose content, stat and failures a test sets.
type fakeFile struct {
	mu      sync.Mutex
	content string
	mtime   time.Time
	missing bool // stat and read fail
	reads   int
}

type fakeInfo struct {
	size  int64
	mtime time.Time
}

func (i fakeInfo) Name() string       { return "secret" }
func (i fakeInfo) Size() int64        { return i.size }
func (i fakeInfo) Mode() fs.FileMode  { return 0o400 }
func (i fakeInfo) ModTime() time.Time { return i.mtime }
func (i fakeInfo) IsDir() bool        { return false }
func (i fakeInfo) Sys() any           { return nil }

func (f *fakeFile) stat(string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.missing {
		return nil, fs.ErrNotExist
	}
	return fakeInfo{int64(len(f.content)), f.mtime}, nil
}

func (f *fakeFile) read(string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.missing {
		return nil, fs.ErrNotExist
	}
	return []byte(f.content), nil
}

func (f *fakeFile) set(content string, mtime time.Time, missing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.content, f.mtime, f.missing = content, mtime, missing
}

func TestSecretFile_rotation(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(t0)
	f := &fakeFile{content: "s3cr3t-one\n", mtime: t0}
	var logs harness.LogBuffer
	s := New(Config{Field: "apps[0].secret_file", Path: "/run/s", Initial: "s3cr3t-one", ReadFile: f.read, Stat: f.stat, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	step := func(d time.Duration) { clk.SetTime(clk.Now().Add(d)) }
	expect := func(what, want string, reads int) {
		t.Helper()
		if got := s.Secret(); got != want {
			t.Fatalf("%s: Secret() = %q, want %q", what, got, want)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.reads != reads {
			t.Fatalf("%s: %d reads, want %d", what, f.reads, reads)
		}
	}
	expect("first use reads the file", "s3cr3t-one", 1)
	step(2 * time.Second)
	expect("unchanged stat: no read", "s3cr3t-one", 1)

	f.set("s3cr3t-two\n", t0.Add(time.Minute), false) // rotated
	expect("within a second of the last look", "s3cr3t-one", 1)
	step(CheckEvery)
	expect("rotated", "s3cr3t-two", 2)

	f.set("", t0.Add(2*time.Minute), false) // emptied
	step(CheckEvery)
	expect("empty file keeps the last good value", "s3cr3t-two", 3)
	step(CheckEvery)
	expect("still empty", "s3cr3t-two", 4)

	f.set("", t0, true) // removed
	step(CheckEvery)
	expect("missing file keeps the last good value", "s3cr3t-two", 4)
	step(CheckEvery)
	expect("still missing", "s3cr3t-two", 4)

	f.set("  s3cr3t-three \n", t0.Add(3*time.Minute), false)
	step(CheckEvery)
	expect("back", "s3cr3t-three", 5)

	out := logs.String()
	if strings.Contains(out, "s3cr3t") {
		t.Fatalf("the log shows a secret:\n%s", out)
	}
	for msg, n := range map[string]int{
		"secret_file changed": 2, "the file is empty; keeping the last good secret": 1,
		"cannot stat the file; keeping the last good secret": 0, "readable again": 1,
	} {
		if got := strings.Count(out, msg); got != n {
			t.Errorf("%q logged %d times, want %d:\n%s", msg, got, n, out)
		}
	}
	// The empty file was logged once and never fixed before the file
	// disappeared, so the removal is the same failing spell: no new line.
	if strings.Count(out, "level=WARN") != 1 {
		t.Errorf("want one WARN for one failing spell:\n%s", out)
	}
}

// TestSecretFile_realFile: a rotation on disk (write a new file, rename
// it over the old one, as secret managers do) is picked up.
func TestSecretFile_realFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	clk := clocktesting.NewFakePassiveClock(t0)
	s := New(Config{Field: "apps[0].secret_file", Path: path, Initial: "first", Clock: clk})
	if got := s.Secret(); got != "first" {
		t.Fatalf("Secret() = %q", got)
	}
	tmp := filepath.Join(dir, "secret.new")
	if err := os.WriteFile(tmp, []byte("second-longer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	clk.SetTime(t0.Add(CheckEvery))
	if got := s.Secret(); got != "second-longer" {
		t.Fatalf("after rotation Secret() = %q", got)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	clk.SetTime(t0.Add(2 * CheckEvery))
	if got := s.Secret(); got != "second-longer" {
		t.Fatalf("after removal Secret() = %q, want the last good value", got)
	}
}
