package main

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// TestStartDevRedis_portTaken: dev mode says why and where it moves
// (issue 11 item 15). The test takes a free port, never 6379.
func TestStartDevRedis_portTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var buf bytes.Buffer
	mr, err := startDevRedis(slog.New(slog.NewTextHandler(&buf, nil)), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	out := buf.String()
	if mr.Addr() == ln.Addr().String() || !strings.Contains(out, ln.Addr().String()+" is taken") || !strings.Contains(out, "listens on "+mr.Addr()) {
		t.Fatalf("addr %s, log %s", mr.Addr(), out)
	}
}
