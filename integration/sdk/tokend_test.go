package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// tokendBinary builds cmd/tokend of the enclosing tokend module (without
// -race, so replicas run at full speed) once per test binary. The build
// runs in the tokend module, whose go.sum covers the command's
// dependencies; this module only replaces it.
func tokendBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "tokend-sdk-"); buildErr != nil {
			return
		}
		root, err := filepath.Abs("../..")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(buildDir, "tokend")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/tokend")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/tokend: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatalf("sdk: %v", buildErr)
	}
	return buildPath
}

// tokendApp is one app of the replicas' configuration.
type tokendApp struct {
	ID, AppID, Secret, BaseURL string
	Tickets                    []string
}

// bearer is the replicas' /v1 API token.
const bearer = "sdk-test-token"

// replica is one tokend process.
type replica struct {
	id, addr string
	proc     *harness.Proc
}

func (r *replica) url() string { return "http://" + r.addr }

// startReplicas starts n tokend processes sharing Redis at redisAddr with
// compressed election timings, a 1 s safety margin (so an SDK sees nearly
// the whole lifetime the fake reports) and apps, plus httpKeys in their
// http section; it waits until every replica serves every app's token.
func startReplicas(t *testing.T, n int, redisAddr string, apps []tokendApp, httpKeys ...map[string]any) []*replica {
	t.Helper()
	bin := tokendBinary(t)
	dir := t.TempDir()
	env := append(os.Environ(), "SDK_API_TOKENS="+bearer)
	var cfgApps []map[string]any
	for i, a := range apps {
		cfgApps = append(cfgApps, map[string]any{
			"id": a.ID, "provider": "wechat", "appid": a.AppID, "secret_env": "SDK_SECRET_" + strconv.Itoa(i),
			"base_url": a.BaseURL, "tickets": a.Tickets,
		})
		env = append(env, "SDK_SECRET_"+strconv.Itoa(i)+"="+a.Secret)
	}
	var reps []*replica
	for i := range n {
		port, err := redisserver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{id: "r" + strconv.Itoa(i+1), addr: "127.0.0.1:" + strconv.Itoa(port)}
		httpSection := map[string]any{"listen": r.addr, "auth_tokens_env": "SDK_API_TOKENS"}
		for _, k := range httpKeys {
			maps.Copy(httpSection, k)
		}
		doc, _ := yaml.Marshal(map[string]any{
			"replica_id": r.id,
			"redis":      map[string]any{"url": "redis://" + redisAddr + "/0", "timeout": "250ms"},
			"http":       httpSection,
			"election":   map[string]any{"lease_ttl": "1500ms", "renew_interval": "300ms", "renew_deadline": "1s", "retry_interval": "250ms"},
			"refresh":    map[string]any{"safety_margin": "1s", "cooldown": "200ms", "daily_budget": -1, "min_expires_in": "1s"},
			"log":        map[string]any{"format": "text", "level": "info"},
			"apps":       cfgApps,
		})
		cfgPath := filepath.Join(dir, r.id+".yaml")
		if err := os.WriteFile(cfgPath, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-config", cfgPath)
		cmd.Env = env
		if r.proc, err = harness.StartProc(r.id, cmd, filepath.Join(dir, r.id+".log")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			r.proc.Kill()
			if t.Failed() {
				t.Logf("%s log tail:\n%s", r.id, r.proc.LogTail(20))
			}
		})
		reps = append(reps, r)
	}
	var paths []string
	for _, a := range apps {
		paths = append(paths, "/v1/apps/"+a.ID+"/token")
	}
	waitServed(t, reps, paths...)
	return reps
}

// waitServed waits until every replica answers 200 on each /v1 path.
func waitServed(t *testing.T, reps []*replica, paths ...string) {
	t.Helper()
	for _, r := range reps {
		for _, p := range paths {
			if _, ok := wait.Poll(20*time.Second, func() bool { code, _ := r.get(p); return code == 200 }); !ok {
				t.Fatalf("%s: %s not served within 20s:\n%s", r.id, p, r.proc.LogTail(20))
			}
		}
	}
}

var apiClient = &http.Client{Timeout: 5 * time.Second}

// get sends an authorised GET to the replica's /v1 API.
func (r *replica) get(path string) (int, []byte) {
	req, _ := http.NewRequest(http.MethodGet, r.url()+path, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := apiClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body
}

// versions returns the write count (version) of each credential from the
// replica's /v1/status.
func (r *replica) versions(ctx context.Context) (map[string]int64, error) {
	code, body := r.get("/v1/status")
	if code != http.StatusOK {
		return nil, fmt.Errorf("%s: status: HTTP %d", r.id, code)
	}
	var st harness.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, a := range st.Apps {
		out[a.ID] = a.Version
	}
	return out, ctx.Err()
}
