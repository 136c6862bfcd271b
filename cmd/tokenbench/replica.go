package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store"
)

// Environment variables the replicas read their secrets from.
const (
	secretEnv   = "TOKENBENCH_APP_SECRET"
	apiTokenEnv = "TOKENBENCH_API_TOKENS"
)

// The YAML configuration of a replica (a contract: README "Configuration"), as the bench
// writes it. Durations are Go duration strings.
type yamlConfig struct {
	ReplicaID string `yaml:"replica_id"`
	Redis     struct {
		URL     string `yaml:"url"`
		Prefix  string `yaml:"prefix"`
		Timeout string `yaml:"timeout,omitempty"`
	} `yaml:"redis"`
	HTTP struct {
		Listen        string `yaml:"listen"`
		AuthTokensEnv string `yaml:"auth_tokens_env"`
	} `yaml:"http"`
	Election electionYAML `yaml:"election"`
	Refresh  refreshYAML  `yaml:"refresh"`
	Log      struct {
		Level string `yaml:"level,omitempty"`
	} `yaml:"log"`
	Apps []yamlApp `yaml:"apps"`
}

type electionYAML struct {
	LeaseTTL      string `yaml:"lease_ttl,omitempty"`
	RenewInterval string `yaml:"renew_interval,omitempty"`
	RenewDeadline string `yaml:"renew_deadline,omitempty"`
	RetryInterval string `yaml:"retry_interval,omitempty"`
}

type refreshYAML struct {
	BeforeExpiry string `yaml:"before_expiry,omitempty"`
	SafetyMargin string `yaml:"safety_margin,omitempty"`
	Cooldown     string `yaml:"cooldown,omitempty"`
	DailyBudget  int    `yaml:"daily_budget,omitempty"`
	MinExpiresIn string `yaml:"min_expires_in,omitempty"`
}

type yamlApp struct {
	ID        string `yaml:"id"`
	Provider  string `yaml:"provider"`
	AppID     string `yaml:"appid"`
	SecretEnv string `yaml:"secret_env"`
	BaseURL   string `yaml:"base_url"`
}

// deployment is a set of tokend replicas sharing one prefix.
type deployment struct {
	b        *bench
	name     string
	prefix   string
	store    *store.Store
	apps     []yamlApp
	election electionYAML
	refresh  refreshYAML
	redisTO  string
	logLevel string
	reps     []*replica
}

// replica is one tokend process.
type replica struct {
	id, addr, configPath, logPath string
	c                             *child
}

// slowAppsDeployment registers n apps named prefix00000... with the fake
// upstream of WeChat's real lifetime (b.slow) and prepares a deployment
// named name that keeps them.
func (b *bench) slowAppsDeployment(name, prefix string, n int) ([]string, *deployment, error) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%05d", prefix, i)
		b.slow.AddApp(ids[i], b.secret)
	}
	d, err := b.newDeployment(name, ids, b.slow.URL)
	return ids, d, err
}

// newDeployment prepares (does not start) a deployment named name whose
// apps ids and appids are given by appids (id = appid).
func (b *bench) newDeployment(name string, appids []string, baseURL string) (*deployment, error) {
	prefix := b.prefix + "-" + name
	st, err := store.New(store.Config{Client: b.rdb, Prefix: prefix})
	if err != nil {
		return nil, err
	}
	d := &deployment{b: b, name: name, prefix: prefix, store: st, redisTO: "500ms", logLevel: "info"}
	for _, id := range appids {
		d.apps = append(d.apps, yamlApp{ID: id, Provider: "wechat", AppID: id, SecretEnv: secretEnv, BaseURL: baseURL})
	}
	return d, nil
}

// startReplicas starts n more replicas and waits until each is ready.
func (d *deployment) startReplicas(ctx context.Context, n int, ready time.Duration) error {
	for range n {
		id := fmt.Sprintf("%s-r%d", d.name, len(d.reps)+1)
		r, err := d.startReplica(id)
		if err != nil {
			return err
		}
		d.reps = append(d.reps, r)
	}
	for _, r := range d.reps {
		if err := r.waitReady(ctx, d.b.http, ready); err != nil {
			return err
		}
	}
	return nil
}

func (d *deployment) startReplica(id string) (*replica, error) {
	port, err := redisserver.FreePort()
	if err != nil {
		return nil, err
	}
	r := &replica{
		id: id, addr: "127.0.0.1:" + strconv.Itoa(port),
		configPath: filepath.Join(d.b.dir, id+".yaml"), logPath: filepath.Join(d.b.dir, id+".log"),
	}
	var cfg yamlConfig
	cfg.ReplicaID = id
	cfg.Redis.URL, cfg.Redis.Prefix, cfg.Redis.Timeout = d.b.redisURL, d.prefix, d.redisTO
	cfg.HTTP.Listen, cfg.HTTP.AuthTokensEnv = r.addr, apiTokenEnv
	cfg.Election, cfg.Refresh, cfg.Apps = d.election, d.refresh, d.apps
	cfg.Log.Level = d.logLevel
	data, err := yaml.Marshal(&cfg)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(r.configPath, data, 0o600); err != nil {
		return nil, err
	}
	return r, r.start(d.b)
}

// start (re)starts the replica's process.
func (r *replica) start(b *bench) error {
	cmd := exec.Command(b.bin, "-config", r.configPath)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		secretEnv + "=" + b.secret,
		apiTokenEnv + "=" + b.apiToken,
	}
	c, err := b.procs.start(r.id, cmd, r.logPath)
	if err != nil {
		return err
	}
	r.c = c
	return nil
}

// waitReady polls /readyz until 200, bounded by timeout.
func (r *replica) waitReady(ctx context.Context, hc *http.Client, timeout time.Duration) error {
	ready := false
	wait.Poll(timeout, func() bool {
		if ctx.Err() != nil || r.c.exited() {
			return true // give up
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.addr+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
		}
		return ready
	})
	switch {
	case ready:
		return nil
	case r.c.exited():
		return fmt.Errorf("replica %s exited at start; see %s", r.id, r.logPath)
	}
	return fmt.Errorf("replica %s not ready within %s; see %s", r.id, timeout, r.logPath)
}

// leader returns the replica that holds the lease (per the epoch hash the
// lock writes), or nil.
func (d *deployment) leader(ctx context.Context) (*replica, store.Leader, error) {
	l, err := d.store.Leader(ctx)
	if err != nil {
		return nil, l, err
	}
	if !l.Held {
		return nil, l, nil
	}
	for _, r := range d.reps {
		if r.id == l.ID && !r.c.exited() {
			return r, l, nil
		}
	}
	return nil, l, nil
}

// waitLeader waits until a live replica leads, bounded by timeout.
func (d *deployment) waitLeader(ctx context.Context, timeout time.Duration) (*replica, store.Leader, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r, l, err := d.leader(ctx); err == nil && r != nil {
			return r, l, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, store.Leader{}, errors.New(d.name + ": no leader within " + timeout.String())
}

// waitToken waits until app has a valid token, bounded by timeout.
func (d *deployment) waitToken(ctx context.Context, app string, timeout time.Duration) (store.Record, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if rec, err := d.store.Record(ctx, app); err == nil && rec.Valid() {
			return rec, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return store.Record{}, fmt.Errorf("%s: no token for %s within %s", d.name, app, timeout)
}

// stop stops every replica with SIGTERM (SIGKILL after 5 s).
func (d *deployment) stop() {
	for _, r := range d.reps {
		if r.c != nil && !r.c.exited() {
			_ = r.c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, r := range d.reps {
		if r.c != nil {
			r.c.stop(syscall.SIGTERM, 5*time.Second)
		}
	}
}
