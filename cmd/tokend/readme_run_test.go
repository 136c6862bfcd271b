package main

// Running the README's <!-- run: GROUP --> blocks. The README writes the
// fixed addresses a reader uses: tokend 127.0.0.1:8080, wxsim 127.0.0.1:8090,
// Redis 127.0.0.1:6379. The test gives each group free loopback ports and
// rewrites those three addresses everywhere in the group's blocks (configs
// written by heredocs included), so it never touches the real ones.
//
// Server lines are started by the test instead of the shell, with their
// arguments and VAR=value prefixes, and the shell's trailing `&`, redirections
// and comment ignored:
//
//	go run ./cmd/tokend ARGS   run() in this process (dev mode with no -config,
//	                           its Redis on a free port instead of 6379)
//	go run ./cmd/wxsim ARGS    the wxsim binary, built once, with -listen added
//	redis-server ...           nothing: a miniredis is already running
//	kill %...                  stops the group's servers
//
// Every other line runs in bash (-e -o pipefail) in the group's directory,
// after the started servers are ready (every credential valid in
// /v1/status; wxsim answering /audit). A batch passes when bash exits 0, no
// answer has "error" or a non-zero errcode, and every JSON key named in the
// block's `# {...}` comment lines appears in the output.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
)

var (
	serverLineRE = regexp.MustCompile(`^((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)(go run \./cmd/(?:tokend|wxsim)|tokend|wxsim|redis-server)\b(.*)$`)
	shellTailRE  = regexp.MustCompile(`\s+(#.*|&|[0-9]?>\s*\S+)$`)
	heredocRE    = regexp.MustCompile(`<<-?\s*'?([A-Za-z_]+)'?`)
	expectRE     = regexp.MustCompile(`^\s*#\s*\{`)
	jsonKeyRE    = regexp.MustCompile(`"([A-Za-z_][A-Za-z0-9_]*)":`)
	failedRE     = regexp.MustCompile(`"error":|"errcode":\s*-?[1-9]`)
)

// group is one <!-- run: --> group's servers and addresses.
type group struct {
	t       *testing.T
	dir     string
	addrs   *strings.Replacer
	tokend  string // the free address standing for 127.0.0.1:8080
	wxsim   string // for 127.0.0.1:8090
	stops   []func()
	waits   []func() // readiness waits of servers started since the last batch
	started []string // for failure messages
}

func runGroup(t *testing.T, file string, blocks []cmdBlock) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	g := &group{t: t, dir: t.TempDir(), tokend: freeAddr(t), wxsim: freeAddr(t)}
	g.addrs = strings.NewReplacer("127.0.0.1:8080", g.tokend, "127.0.0.1:8090", g.wxsim, "127.0.0.1:6379", mr.Addr())
	defer g.stopAll()
	if strings.HasPrefix(blocks[0].marker, "run: dev-mode") { // the block assumes dev mode runs
		g.startTokend(file, blocks[0], nil, nil)
	}
	for _, b := range blocks {
		if b.lang != "sh" {
			t.Fatalf("%s: only sh blocks can be run", b.where(file))
		}
		g.runBlock(file, b)
		if t.Failed() {
			return
		}
	}
	for _, w := range g.waits { // servers started last must come up too
		w()
	}
}

func freeAddr(t *testing.T) string {
	port, err := redisserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

// runBlock runs one block: server lines start servers, the other lines run
// in bash in batches between them.
func (g *group) runBlock(file string, b cmdBlock) {
	lines := strings.Split(strings.ReplaceAll(g.addrs.Replace(b.text), "\\\n", " "), "\n")
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			g.runShell(file, b, strings.Join(batch, "\n"))
			batch = nil
		}
	}
	for i := 0; i < len(lines) && !g.t.Failed(); i++ {
		l := strings.TrimSpace(lines[i])
		if m := heredocRE.FindStringSubmatch(l); m != nil { // keep the document whole
			batch = append(batch, lines[i])
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != m[1]; i++ {
				batch = append(batch, lines[i])
			}
			if i < len(lines) {
				batch = append(batch, lines[i])
			}
			continue
		}
		switch m := serverLineRE.FindStringSubmatch(l); {
		case m != nil:
			flush()
			g.startServer(file, b, m[1], m[2], m[3])
		case strings.HasPrefix(l, "kill %"):
			flush()
			g.stopAll()
		default:
			batch = append(batch, lines[i])
		}
	}
	flush()
}

// startServer starts what a server line starts; env is its VAR=value
// prefix, what the command, rest its arguments and shell tail.
func (g *group) startServer(file string, b cmdBlock, env, what, rest string) {
	for shellTailRE.MatchString(rest) {
		rest = shellTailRE.ReplaceAllString(rest, "")
	}
	args := strings.Fields(rest)
	vars := map[string]string{}
	for _, kv := range strings.Fields(env) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	g.started = append(g.started, strings.TrimSpace(env+what+" "+rest))
	switch what {
	case "redis-server":
	case "go run ./cmd/wxsim", "wxsim":
		g.startWxsim(file, b, args)
	default:
		g.startTokend(file, b, args, vars)
	}
}

var wxsimBuild struct {
	once sync.Once
	bin  string
	err  error
}

// startWxsim builds wxsim once per test binary and runs it on the group's
// wxsim address.
func (g *group) startWxsim(file string, b cmdBlock, args []string) {
	wxsimBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "readme-wxsim")
		if err != nil {
			wxsimBuild.err = err
			return
		}
		wxsimBuild.bin = filepath.Join(dir, "wxsim")
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go") //nolint:staticcheck // the toolchain running the test
		cmd := exec.Command(goTool, "build", "-o", wxsimBuild.bin, "./cmd/wxsim")
		cmd.Dir, cmd.Env = repoRoot, append(os.Environ(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			wxsimBuild.err = fmt.Errorf("go build ./cmd/wxsim: %v\n%s", err, out)
		}
	})
	if wxsimBuild.err != nil {
		g.t.Fatal(wxsimBuild.err)
	}
	if !strings.Contains(strings.Join(args, " "), "-listen") {
		args = append(args, "-listen", g.wxsim)
	}
	var logs harness.LogBuffer
	cmd := exec.Command(wxsimBuild.bin, args...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		g.t.Fatalf("%s: wxsim: %v", b.where(file), err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	g.stops = append(g.stops, func() { cmd.Process.Kill(); <-exited })
	g.waits = append(g.waits, func() {
		wait.For(g.t, 20*time.Second, "wxsim answering /audit", func() bool {
			select {
			case <-exited:
				g.t.Fatalf("%s: wxsim %q exited:\n%s", b.where(file), args, logs.String())
			default:
			}
			return httpStatus("http://"+g.wxsim+"/audit") == http.StatusOK
		})
	})
}

// startTokend runs tokend's run() in this process with the line's
// arguments; dev mode (no -config) listens on the group's tokend address.
func (g *group) startTokend(file string, b cmdBlock, args []string, vars map[string]string) {
	dev := !strings.Contains(strings.Join(args, " "), "-config")
	if dev {
		args = append(args, "-dev-listen", g.tokend)
		saved := devRedisAddr
		devRedisAddr = "127.0.0.1:0" // never 6379; groups run one at a time
		g.t.Cleanup(func() { devRedisAddr = saved })
	}
	getenv := func(k string) string { return vars[k] }
	readFile := func(p string) ([]byte, error) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(g.dir, p)
		}
		return os.ReadFile(p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logs harness.LogBuffer
	code := make(chan int, 1)
	go func() { code <- run(ctx, args, getenv, readFile, &logs, &logs) }()
	g.stops = append(g.stops, func() { cancel(); <-code })
	g.waits = append(g.waits, func() {
		// A bound, not a figure: dev mode is valid in well under a second
		// on an idle machine; 30 s was once overrun at load average 13.
		var last string
		defer func() {
			if g.t.Failed() {
				g.t.Logf("tokend %s: last /v1/status: %s", strings.Join(args, " "), last)
			}
		}()
		wait.For(g.t, 60*time.Second, "tokend "+strings.Join(args, " ")+": every credential valid", func() bool {
			select {
			case c := <-code:
				code <- c
				g.t.Fatalf("%s: tokend exited with %d:\n%s", b.where(file), c, logs.String())
			default:
			}
			ok, body := allValid("http://" + g.tokend + "/v1/status")
			last = body
			return ok
		})
	})
}

// allValid: /v1/status answers and lists every credential valid; body is
// what it answered (or the error), for the log of a failed wait.
func allValid(url string) (ok bool, body string) {
	resp, err := http.Get(url)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return false, err.Error()
	}
	var st struct {
		Apps []struct{ Valid bool } `json:"apps"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &st) != nil || len(st.Apps) == 0 {
		return false, string(raw)
	}
	for _, a := range st.Apps {
		if !a.Valid {
			return false, string(raw)
		}
	}
	return true, ""
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (g *group) stopAll() {
	for i := len(g.stops) - 1; i >= 0; i-- {
		g.stops[i]()
	}
	g.stops, g.waits = nil, nil
}

// runShell waits for the servers, runs script in bash and judges the output.
func (g *group) runShell(file string, b cmdBlock, script string) {
	for _, w := range g.waits {
		w()
	}
	g.waits = nil
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = g.dir
	// curl must not go through a proxy from the environment.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + g.dir, "NO_PROXY=*", "no_proxy=*"}
	out, err := cmd.CombinedOutput()
	where := fmt.Sprintf("%s (servers: %q)", b.where(file), g.started)
	switch {
	case err != nil:
		g.t.Errorf("%s: %v\nscript:\n%s\noutput:\n%s", where, err, script, out)
	case failedRE.Match(out):
		g.t.Errorf("%s: an answer is an error:\n%s", where, out)
	case strings.Contains(script, "curl") && len(bytes.TrimSpace(out)) == 0:
		g.t.Errorf("%s: no output", where)
	}
	for _, l := range strings.Split(script, "\n") {
		if !expectRE.MatchString(l) {
			continue
		}
		for _, k := range jsonKeyRE.FindAllStringSubmatch(l, -1) {
			if !bytes.Contains(out, []byte(`"`+k[1]+`":`)) {
				g.t.Errorf("%s: the README shows %q, the output has no %q:\n%s", where, strings.TrimSpace(l), k[1], out)
			}
		}
	}
	g.t.Logf("%s:\n%s", b.where(file), out)
}
