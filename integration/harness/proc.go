package harness

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one child process with its output appended to a log file. It
// needs no testing.TB: Process (the tests' tokend replica) and
// cmd/tokenbench both start their children through it. A Proc gets SIGKILL
// when the parent dies without stopping it (Pdeathsig). Its methods are safe
// for concurrent use.
type Proc struct {
	Name    string
	LogPath string

	cmd   *exec.Cmd
	done  chan struct{}    // closed when the process has exited
	state *os.ProcessState // set before done is closed
}

// StartProc starts cmd with its stdout and stderr appended to logPath.
func StartProc(name string, cmd *exec.Cmd, logPath string) (*Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// State is the exit state; nil until the process has exited.
func (p *Proc) State() *os.ProcessState {
	if !p.Exited() {
		return nil
	}
	return p.state
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop sends sig and waits up to grace for the exit, then kills the process
// and waits for it. It reports whether the process exited within grace (true
// when it had exited already).
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) bool {
	if p.Exited() {
		return true
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return false
	}
}

// Kill resumes the process (it may be stopped), kills it and waits for it.
func (p *Proc) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Kill()
	<-p.done
}

// LogTail returns the last n lines of the process's log.
func (p *Proc) LogTail(n int) string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 4*n {
			lines = lines[len(lines)-n:]
		}
	}
	lines = lines[max(0, len(lines)-n):]
	return strings.Join(lines, "\n")
}

// Procs tracks started processes so that all of them can be killed at once
// (on exit, on error, on a signal). Safe for concurrent use.
type Procs struct {
	mu   sync.Mutex // guards live
	live map[*Proc]struct{}
}

// Start starts cmd as StartProc does and tracks it until it exits.
func (ps *Procs) Start(name string, cmd *exec.Cmd, logPath string) (*Proc, error) {
	p, err := StartProc(name, cmd, logPath)
	if err != nil {
		return nil, err
	}
	ps.mu.Lock()
	if ps.live == nil {
		ps.live = map[*Proc]struct{}{}
	}
	ps.live[p] = struct{}{}
	ps.mu.Unlock()
	go func() {
		<-p.done
		ps.mu.Lock()
		delete(ps.live, p)
		ps.mu.Unlock()
	}()
	return p, nil
}

// KillAll kills every live process and waits up to 5 s for each.
func (ps *Procs) KillAll() {
	ps.mu.Lock()
	all := make([]*Proc, 0, len(ps.live))
	for p := range ps.live {
		all = append(all, p)
	}
	ps.mu.Unlock()
	for _, p := range all {
		_ = p.cmd.Process.Kill()
	}
	for _, p := range all {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
}
