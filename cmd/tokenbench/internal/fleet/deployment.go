package fleet

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

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/store"
	storefleet "github.com/tokend/tokend/store/fleet"
)

// Environment variables the replicas read their secrets from.
const (
	secretEnv     = "TOKENBENCH_APP_SECRET"
	apiTokenEnv   = "TOKENBENCH_API_TOKENS"
	compTokenEnv  = "TOKENBENCH_OP_MSG_TOKEN"
	compAESKeyEnv = "TOKENBENCH_OP_AES_KEY"
)

// config is the YAML configuration of a Replica (a contract: README
// "Configuration"), as the bench writes it. Durations are Go duration
// strings.
type config struct {
	ReplicaID string `yaml:"replica_id"`
	Redis     struct {
		URL     string `yaml:"url"`
		Prefix  string `yaml:"prefix"`
		Timeout string `yaml:"timeout,omitempty"`
	} `yaml:"redis"`
	HTTP struct {
		Listen        string `yaml:"listen"`
		AuthTokensEnv string `yaml:"auth_tokens_env"`
		Proxy         bool   `yaml:"proxy,omitempty"`
	} `yaml:"http"`
	Election Election `yaml:"election"`
	Refresh  Refresh  `yaml:"refresh"`
	Log      struct {
		Level string `yaml:"level,omitempty"`
	} `yaml:"log"`
	Apps       []App       `yaml:"apps"`
	Components []Component `yaml:"components,omitempty"`
}

type Election struct {
	LeaseTTL      string `yaml:"lease_ttl,omitempty"`
	RenewInterval string `yaml:"renew_interval,omitempty"`
	RenewDeadline string `yaml:"renew_deadline,omitempty"`
	RetryInterval string `yaml:"retry_interval,omitempty"`
}

type Refresh struct {
	BeforeExpiry string `yaml:"before_expiry,omitempty"`
	SafetyMargin string `yaml:"safety_margin,omitempty"`
	Cooldown     string `yaml:"cooldown,omitempty"`
	DailyBudget  int    `yaml:"daily_budget,omitempty"`
	MinExpiresIn string `yaml:"min_expires_in,omitempty"`
}

type App struct {
	ID        string   `yaml:"id"`
	Provider  string   `yaml:"provider"`
	AppID     string   `yaml:"appid"`
	AgentID   string   `yaml:"agentid,omitempty"`
	SecretEnv string   `yaml:"secret_env"`
	BaseURL   string   `yaml:"base_url"`
	Tickets   []string `yaml:"tickets,omitempty"`
}

// Component is an Open Platform component of the configuration; its
// secret is Env.Secret, its message token ComponentMsgToken and its
// EncodingAESKey ComponentAESKey.
type Component struct {
	ID             string  `yaml:"id"`
	AppID          string  `yaml:"appid"`
	SecretEnv      string  `yaml:"secret_env"`
	TokenEnv       string  `yaml:"token_env"`
	AESKeyEnv      string  `yaml:"aes_key_env"`
	BaseURL        string  `yaml:"base_url"`
	AuthorizerRate float64 `yaml:"authorizer_rate,omitempty"`
}

// The message token and EncodingAESKey of every bench component (bench
// values, not secrets of anyone).
const (
	ComponentMsgToken = "tokenbench-msg-token"
	ComponentAESKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// NewComponent is a Component with the bench's secret variables.
func NewComponent(id, appid, baseURL string, rate float64) Component {
	return Component{ID: id, AppID: appid, SecretEnv: secretEnv, TokenEnv: compTokenEnv, AESKeyEnv: compAESKeyEnv, BaseURL: baseURL, AuthorizerRate: rate}
}

// Deployment is a set of tokend replicas sharing one prefix. The exported
// fields other than Reps may be changed before the first StartReplicas.
// Not safe for concurrent use.
type Deployment struct {
	Env      *Env
	Name     string
	Prefix   string // Redis key prefix: Env.Prefix + "-" + Name
	Store    *store.Store
	Fleet    *storefleet.Store // Store's leadership read
	Apps     []App
	Comps    []Component
	Election Election
	Refresh  Refresh
	RedisTO  string // redis.timeout; default 500ms
	LogLevel string // log.level; default info
	Proxy    bool   // http.proxy
	Reps     []*Replica
}

// Replica is one tokend process.
type Replica struct {
	ID, Addr, ConfigPath, LogPath string
	Proc                          *harness.Proc // nil before Start
}

// NewDeployment prepares (does not start) a Deployment named name whose
// apps' ids and appids are given by appids (id = appid), fetching from the
// fake upstream at baseURL.
func (e *Env) NewDeployment(name string, appids []string, baseURL string) (*Deployment, error) {
	prefix := e.Prefix + "-" + name
	st, err := store.New(store.Config{Client: e.RDB, Prefix: prefix})
	if err != nil {
		return nil, err
	}
	d := &Deployment{Env: e, Name: name, Prefix: prefix, Store: st, Fleet: storefleet.New(st), RedisTO: "500ms", LogLevel: "info"}
	for _, id := range appids {
		d.Apps = append(d.Apps, App{ID: id, Provider: "wechat", AppID: id, SecretEnv: secretEnv, BaseURL: baseURL})
	}
	return d, nil
}

// StartReplicas starts n more replicas and waits until each is ready.
func (d *Deployment) StartReplicas(ctx context.Context, n int, ready time.Duration) error {
	for range n {
		id := fmt.Sprintf("%s-r%d", d.Name, len(d.Reps)+1)
		r, err := d.startReplica(id)
		if err != nil {
			return err
		}
		d.Reps = append(d.Reps, r)
	}
	for _, r := range d.Reps {
		if err := r.WaitReady(ctx, d.Env.HTTP, ready); err != nil {
			return err
		}
	}
	return nil
}

func (d *Deployment) startReplica(id string) (*Replica, error) {
	port, err := redisserver.FreePort()
	if err != nil {
		return nil, err
	}
	r := &Replica{
		ID: id, Addr: "127.0.0.1:" + strconv.Itoa(port),
		ConfigPath: filepath.Join(d.Env.Dir, id+".yaml"), LogPath: filepath.Join(d.Env.Dir, id+".log"),
	}
	var cfg config
	cfg.ReplicaID = id
	cfg.Redis.URL, cfg.Redis.Prefix, cfg.Redis.Timeout = d.Env.RedisURL, d.Prefix, d.RedisTO
	cfg.HTTP.Listen, cfg.HTTP.AuthTokensEnv, cfg.HTTP.Proxy = r.Addr, apiTokenEnv, d.Proxy
	cfg.Election, cfg.Refresh, cfg.Apps, cfg.Components = d.Election, d.Refresh, d.Apps, d.Comps
	cfg.Log.Level = d.LogLevel
	data, err := yaml.Marshal(&cfg)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(r.ConfigPath, data, 0o600); err != nil {
		return nil, err
	}
	return r, r.Start(d.Env)
}

// Start (re)starts the Replica's process.
func (r *Replica) Start(env *Env) error {
	cmd := exec.Command(env.Bin, "-config", r.ConfigPath)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		secretEnv + "=" + env.Secret,
		apiTokenEnv + "=" + env.APIToken,
		compTokenEnv + "=" + ComponentMsgToken,
		compAESKeyEnv + "=" + ComponentAESKey,
	}
	c, err := env.Procs.Start(r.ID, cmd, r.LogPath)
	if err != nil {
		return err
	}
	r.Proc = c
	return nil
}

// WaitReady polls /readyz until 200, bounded by timeout.
func (r *Replica) WaitReady(ctx context.Context, hc *http.Client, timeout time.Duration) error {
	ready := false
	wait.Poll(timeout, func() bool {
		if ctx.Err() != nil || r.Proc.Exited() {
			return true // give up
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Addr+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
		}
		return ready
	})
	switch {
	case ready:
		return nil
	case r.Proc.Exited():
		return fmt.Errorf("Replica %s exited at start; see %s", r.ID, r.LogPath)
	}
	return fmt.Errorf("Replica %s not ready within %s; see %s", r.ID, timeout, r.LogPath)
}

// Leader returns the Replica that holds the lease (per the epoch hash the
// lock writes), or nil.
func (d *Deployment) Leader(ctx context.Context) (*Replica, storefleet.Leader, error) {
	l, err := d.Fleet.Leader(ctx)
	if err != nil {
		return nil, l, err
	}
	if !l.Held {
		return nil, l, nil
	}
	for _, r := range d.Reps {
		if r.ID == l.ID && !r.Proc.Exited() {
			return r, l, nil
		}
	}
	return nil, l, nil
}

// WaitLeader waits until a live Replica leads, bounded by timeout.
func (d *Deployment) WaitLeader(ctx context.Context, timeout time.Duration) (*Replica, storefleet.Leader, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r, l, err := d.Leader(ctx); err == nil && r != nil {
			return r, l, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, storefleet.Leader{}, errors.New(d.Name + ": no leader within " + timeout.String())
}

// WaitToken waits until app has a valid token, bounded by timeout.
func (d *Deployment) WaitToken(ctx context.Context, app string, timeout time.Duration) (store.Record, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if rec, err := d.Store.Record(ctx, app); err == nil && rec.Valid() {
			return rec, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return store.Record{}, fmt.Errorf("%s: no token for %s within %s", d.Name, app, timeout)
}

// Stop stops every Replica with SIGTERM (SIGKILL after 5 s).
func (d *Deployment) Stop() {
	for _, r := range d.Reps {
		if r.Proc != nil && !r.Proc.Exited() {
			_ = r.Proc.Signal(syscall.SIGTERM)
		}
	}
	for _, r := range d.Reps {
		if r.Proc != nil {
			r.Proc.Stop(syscall.SIGTERM, 5*time.Second)
		}
	}
}
