package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestNewLogger_durationsAsStrings(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		newLogger(&buf, format, slog.LevelInfo).Info("x", "took", 1500*time.Millisecond, slog.Group("g", "d", time.Minute))
		if !strings.Contains(buf.String(), "1.5s") || !strings.Contains(buf.String(), "1m0s") || strings.Contains(buf.String(), "1500000000") {
			t.Errorf("%s: %s", format, buf.String())
		}
	}
}
