package ha

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tokend/tokend/integration/harness"
)

// TestMain removes the tokend binary harness.Binary built.
func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}

// The machine running the tests has no Docker engine: the compose files are
// parse-checked, and the tokend configs they mount are validated by the
// tokend binary's own `check` subcommand.

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Profiles    []string          `yaml:"profiles"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func loadCompose(t *testing.T, path string) composeFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil { // yaml.v3 resolves the x-tokend anchor and merge keys
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func TestCompose_services(t *testing.T) {
	t.Parallel()
	c := loadCompose(t, "../../docker-compose.yml")
	var tokends []string
	for name, s := range c.Services {
		if strings.HasPrefix(name, "tokend") {
			tokends = append(tokends, name)
			if s.Build == nil || s.Build.Context != "." || s.Build.Dockerfile != "Dockerfile" {
				t.Errorf("%s: want build from ./Dockerfile, got %+v", name, s.Build)
			}
			if s.Environment["TOKEND_CONFIG"] != "/etc/tokend/tokend.yaml" ||
				!slices.Contains(s.Volumes, "./deploy/tokend-demo.yaml:/etc/tokend/tokend.yaml:ro") {
				t.Errorf("%s: does not mount deploy/tokend-demo.yaml as its config: %v %v", name, s.Environment, s.Volumes)
			}
			if s.Healthcheck == nil || !strings.Contains(strings.Join(s.Healthcheck.Test, " "), "http://127.0.0.1:8080/readyz") {
				t.Errorf("%s: healthcheck does not probe /readyz: %+v", name, s.Healthcheck)
			}
			if len(s.Profiles) != 0 {
				t.Errorf("%s: tokend must run without a profile, has %v", name, s.Profiles)
			}
		}
	}
	if len(tokends) != 3 {
		t.Errorf("tokend replicas: %v, want 3", tokends)
	}
	if r, ok := c.Services["redis"]; !ok || r.Healthcheck == nil {
		t.Error("no redis service with a healthcheck")
	}
	wx, ok := c.Services["wxsim"]
	switch {
	case !ok:
		t.Error("no wxsim service")
	case !slices.Equal(wx.Profiles, []string{"demo"}):
		t.Errorf("wxsim profiles %v, want [demo]", wx.Profiles)
	case !slices.Equal(wx.Entrypoint, []string{"wxsim"}) || !slices.Contains(wx.Command, "0.0.0.0:8090"):
		t.Errorf("wxsim runs %v %v, want wxsim listening on 0.0.0.0:8090", wx.Entrypoint, wx.Command)
	}
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/tokend", "./cmd/wxsim", "USER 10001", "HEALTHCHECK", "/readyz"} {
		if !strings.Contains(string(df), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

func TestCompose_prodOverride(t *testing.T) {
	t.Parallel()
	c := loadCompose(t, "../../docker-compose.prod.yml")
	for _, name := range []string{"tokend-1", "tokend-2", "tokend-3"} {
		s := c.Services[name]
		if !slices.Contains(s.Volumes, "./deploy/tokend-prod.yaml:/etc/tokend/tokend.yaml:ro") {
			t.Errorf("%s: does not mount deploy/tokend-prod.yaml: %v", name, s.Volumes)
		}
		for _, v := range []string{"REDIS_PASSWORD", "TOKEND_API_TOKENS", "MP_MAIN_SECRET"} {
			if !strings.HasPrefix(s.Environment[v], "${"+v+":?") {
				t.Errorf("%s: %s = %q, want it required from the environment", name, v, s.Environment[v])
			}
		}
	}
	if r := c.Services["redis"]; !slices.Contains(r.Volumes, "./deploy/redis-users.acl:/etc/redis/users.acl:ro") {
		t.Errorf("redis does not mount the ACL file: %v", r.Volumes)
	}
}

var hostPath = regexp.MustCompile(`^\./([^:]+):`)

// TestCompose_mountedFilesExist: every file a compose file mounts exists.
func TestCompose_mountedFilesExist(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"../../docker-compose.yml", "../../docker-compose.prod.yml"} {
		for name, s := range loadCompose(t, f).Services {
			for _, v := range s.Volumes {
				if m := hostPath.FindStringSubmatch(v); m != nil {
					if _, err := os.Stat(filepath.Join("../..", m[1])); err != nil {
						t.Errorf("%s: %s mounts %s: %v", f, name, m[1], err)
					}
				}
			}
		}
	}
}

// TestDeploy_configsPassCheck runs `tokend check` on the deploy configs with
// the environment their compose services give them.
func TestDeploy_configsPassCheck(t *testing.T) {
	t.Parallel()
	bin := harness.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	demo := loadCompose(t, "../../docker-compose.yml").Services["tokend-1"].Environment
	for _, tc := range []struct {
		file string
		env  map[string]string
	}{
		{"deploy/tokend-demo.yaml", demo},
		{"deploy/tokend-prod.yaml", map[string]string{"REDIS_PASSWORD": "x", "TOKEND_API_TOKENS": "t", "MP_MAIN_SECRET": "s"}},
	} {
		cmd := exec.CommandContext(ctx, bin, "check", "-config", tc.file)
		cmd.Dir = "../.."
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		for k, v := range tc.env {
			if k != "TOKEND_CONFIG" {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("tokend check %s: %v\n%s", tc.file, err, out)
			continue
		}
		if strings.Contains(string(out), "warning") {
			t.Errorf("tokend check %s warned:\n%s", tc.file, out)
		}
		// A missing secret must make the same config fail with exit 2.
		cmd = exec.CommandContext(ctx, bin, "check", "-config", tc.file)
		cmd.Dir, cmd.Env = "../..", []string{"PATH=" + os.Getenv("PATH")}
		if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 2 {
			t.Errorf("tokend check %s without its environment: %v, want exit status 2", tc.file, err)
		}
	}
}
