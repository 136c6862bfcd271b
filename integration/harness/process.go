package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/redisserver"
)

// Process is one tokend replica running as an OS process. Its methods are
// safe for concurrent use except that signals and Wait should come from one
// goroutine (the test's).
type Process struct {
	ID         string
	Addr       string // HTTP API, 127.0.0.1:port
	LogPath    string
	ConfigPath string

	tb       testing.TB
	apiToken string
	proc     *Proc
	client   *http.Client
}

// startProcess writes the config of replica id into dir and starts it. It
// does not wait for readiness.
func startProcess(tb testing.TB, cfg *Config, dir, id string, extraEnv []string) (*Process, error) {
	port, err := redisserver.FreePort()
	if err != nil {
		return nil, err
	}
	p := &Process{
		ID: id, Addr: "127.0.0.1:" + strconv.Itoa(port), tb: tb, apiToken: cfg.APIToken,
		LogPath:    filepath.Join(dir, id+".log"),
		ConfigPath: filepath.Join(dir, id+".yaml"),
		client:     &http.Client{Timeout: 2 * time.Second},
	}
	data, err := cfg.render(id, p.Addr)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.ConfigPath, data, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(Binary(tb), "-config", p.ConfigPath)
	cmd.Env = cfg.env(extraEnv)
	if p.proc, err = StartProc(id, cmd, p.LogPath); err != nil {
		return nil, err
	}
	return p, nil
}

// waitReady polls /readyz until it answers 200, the process exits, or
// timeout passes.
func (p *Process) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.proc.Done():
			return fmt.Errorf("harness: %s exited before ready (%s)", p.ID, p.proc.State())
		default:
		}
		resp, err := p.client.Get("http://" + p.Addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("harness: %s not ready within %s", p.ID, timeout)
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool { return p.proc.Exited() }

func (p *Process) signal(sig syscall.Signal) {
	p.tb.Helper()
	if p.Exited() {
		p.tb.Fatalf("harness: %s: signal %s: already exited (%s)", p.ID, sig, p.proc.State())
	}
	if err := p.proc.Signal(sig); err != nil {
		p.tb.Fatalf("harness: %s: signal %s: %v", p.ID, sig, err)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() {
	p.tb.Helper()
	p.signal(syscall.SIGKILL)
	<-p.proc.Done()
}

// Pause sends SIGSTOP: the process freezes, its sockets stay open.
func (p *Process) Pause() { p.tb.Helper(); p.signal(syscall.SIGSTOP) }

// Resume sends SIGCONT.
func (p *Process) Resume() { p.tb.Helper(); p.signal(syscall.SIGCONT) }

// Term sends SIGTERM and waits up to timeout for the exit; it fails the
// test unless the process exits with status 0. It returns how long the
// exit took.
func (p *Process) Term(timeout time.Duration) time.Duration {
	p.tb.Helper()
	start := time.Now()
	p.signal(syscall.SIGTERM)
	select {
	case <-p.proc.Done():
	case <-time.After(timeout):
		p.proc.Kill()
		p.tb.Fatalf("harness: %s did not exit within %s of SIGTERM", p.ID, timeout)
	}
	if code := p.proc.State().ExitCode(); code != 0 {
		p.tb.Fatalf("harness: %s exited with status %d after SIGTERM, want 0\n%s", p.ID, code, p.LogTail(30))
	}
	return time.Since(start)
}

// stop is the cleanup: resume (it may be stopped) and kill.
func (p *Process) stop() { p.proc.Kill() }

// Pid is the replica's process id.
func (p *Process) Pid() int { return p.proc.Pid() }

// LogTail returns the last n lines of the process's log.
func (p *Process) LogTail(n int) string { return p.proc.LogTail(n) }

// LogContains reports how many log lines contain s.
func (p *Process) LogContains(s string) int {
	b, _ := os.ReadFile(p.LogPath)
	return strings.Count(string(b), s)
}

// Status is the replica's GET /v1/status answer.
type Status struct {
	Replica  string      `json:"replica"`
	Leader   bool        `json:"leader"`
	LeaderID string      `json:"leader_id"`
	Epoch    int64       `json:"epoch"`
	Apps     []AppStatus `json:"apps"`
}

// AppStatus is one app of Status.
type AppStatus struct {
	ID            string     `json:"id"`
	Valid         bool       `json:"valid"`
	Version       int64      `json:"version"`
	ExpiresAt     *time.Time `json:"expires_at"`
	NextRefresh   *time.Time `json:"next_refresh"`
	LastError     string     `json:"last_error"`
	LastErrorCode int        `json:"last_error_code"`
	BudgetUsed    int        `json:"budget_used"`
}

// Get sends an authorised GET to the replica's API and returns the status
// code and body.
func (p *Process) Get(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Addr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.apiToken)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// Status reads GET /v1/status.
func (p *Process) Status(ctx context.Context) (Status, error) {
	code, body, err := p.Get(ctx, "/v1/status")
	if err != nil {
		return Status{}, err
	}
	if code != http.StatusOK {
		return Status{}, fmt.Errorf("harness: %s: status: HTTP %d: %s", p.ID, code, body)
	}
	var st Status
	err = json.Unmarshal(body, &st)
	return st, err
}

// Metric returns the value of an unlabelled metric (or the first series of
// a labelled one whose labels contain match) from GET /metrics. It needs no
// Redis.
func (p *Process) Metric(ctx context.Context, name, match string) (float64, error) {
	code, body, err := p.Get(ctx, "/metrics")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("harness: %s: metrics: HTTP %d", p.ID, code)
	}
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') || !strings.Contains(rest, match) {
			continue
		}
		f := strings.Fields(line)
		return strconv.ParseFloat(f[len(f)-1], 64)
	}
	return 0, errors.New("harness: metric " + name + " not found")
}

// Leading reports whether the replica leads, from the tokend_leader gauge
// (works while Redis is unreachable).
func (p *Process) Leading(ctx context.Context) (bool, error) {
	v, err := p.Metric(ctx, "tokend_leader", "")
	return v == 1, err
}
