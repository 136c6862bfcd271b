package harness

import (
	"bytes"
	"sync"
)

// LogBuffer collects a logger's output in tests: a bytes.Buffer that is
// safe for concurrent use by the writer (a server's goroutines) and the
// reader (the test). The zero value is ready to use.
type LogBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
