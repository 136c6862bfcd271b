package harness

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProc_StopAndLogTail(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sh.log")
	p, err := StartProc("sh", exec.Command("/bin/sh", "-c", "echo one; echo two; exec sleep 60"), log)
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(p.LogTail(5), "two") {
		if p.Exited() {
			t.Fatalf("exited early: %s", p.LogTail(5))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.LogTail(1); got != "two" {
		t.Errorf("LogTail(1) = %q, want %q", got, "two")
	}
	if !p.Stop(syscall.SIGTERM, time.Minute) {
		t.Error("Stop: sleep did not exit on SIGTERM")
	}
	if !p.Exited() || p.State() == nil {
		t.Error("not exited after Stop")
	}
	if !p.Stop(syscall.SIGTERM, time.Second) {
		t.Error("second Stop reports a kill")
	}
}

func TestProc_StopKillsAfterGrace(t *testing.T) {
	log := filepath.Join(t.TempDir(), "sh.log")
	// The shell ignores SIGTERM; only the kill after the grace ends it.
	p, err := StartProc("sh", exec.Command("/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"), log)
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(p.LogTail(1), "ready") {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Stop(syscall.SIGTERM, 200*time.Millisecond) {
		t.Error("Stop reports a graceful exit of a process that ignores SIGTERM")
	}
	if !p.Exited() {
		t.Error("not exited after Stop")
	}
}

func TestProcs_KillAll(t *testing.T) {
	var ps Procs
	dir := t.TempDir()
	var all []*Proc
	for i := range 3 {
		p, err := ps.Start("sleep", exec.Command("sleep", "60"), filepath.Join(dir, "s.log"))
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		all = append(all, p)
	}
	ps.KillAll()
	for i, p := range all {
		select {
		case <-p.Done():
		case <-time.After(time.Minute):
			t.Fatalf("process %d still running after KillAll", i)
		}
	}
}
