package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/cache"
	opconfig "github.com/silenceper/wechat/v2/openplatform/config"
	opctx "github.com/silenceper/wechat/v2/openplatform/context"
	"go.yaml.in/yaml/v3"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// The Open Platform component of TestSDK_openPlatform.
const (
	opID     = "op-sdk"
	opAppID  = "wxcomponent0000sdk"
	opSecret = "sdk-component-secret"
	opToken  = "sdk-msg-token"
	opAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
)

// TestSDK_openPlatform: github.com/silenceper/wechat/v2's Open Platform
// context, unchanged, its HTTP client sending api.weixin.qq.com calls to
// one tokend (on a real redis-server, the fake upstream pushing verify
// tickets to tokend): SetComponentAccessToken with a made-up verify
// ticket gets the component token tokend keeps; for an account authorized
// through tokend's page-flow routes, RefreshAuthrToken gets its kept
// token and refresh token, which the SDK caches and GetAuthrAccessToken
// then serves. Every token is one the upstream accepts, and the SDK's
// calls cost the upstream no token call.
func TestSDK_openPlatform(t *testing.T) {
	useEgressTransport()
	fake := wechattest.NewServer(wechattest.Config{DailyQuota: -1}) // 7200 s tokens: silenceper keeps them expires_in - 1500 s
	t.Cleanup(fake.Close)
	rs := redisserver.Start(t)
	rep := startComponentReplica(t, rs.Addr, fake.URL)
	err := fake.AddComponent(wechattest.Component{AppID: opAppID, Secret: opSecret, Token: opToken, EncodingAESKey: opAESKey,
		CallbackURLs: []string{rep.url() + "/callback/components/" + opID}, PushEvery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waitServed(t, []*replica{rep}, "/v1/apps/"+opID+"/token")

	// An account authorizes through tokend's page-flow routes.
	var pre struct {
		PreAuthCode string `json:"pre_auth_code"`
	}
	rep.postJSON(t, "/v1/components/"+opID+"/preauthcode", nil, &pre)
	code, err := fake.AuthorizeWithPreAuthCode(opAppID, pre.PreAuthCode, "wxsdkauth01")
	if err != nil {
		t.Fatal(err)
	}
	rep.postJSON(t, "/v1/components/"+opID+"/authorizations", map[string]string{"auth_code": code}, nil)
	waitServed(t, []*replica{rep}, "/v1/components/"+opID+"/authorizers/wxsdkauth01/token")

	before := fake.Audit().Fetches
	ctx := context.WithValue(context.Background(), egressKey{}, rep.url())
	op := &opctx.Context{Config: &opconfig.Config{AppID: opAppID, AppSecret: opSecret, Token: opToken, EncodingAESKey: opAESKey, Cache: cache.NewMemory()}}
	ct, err := op.SetComponentAccessTokenContext(ctx, "a-ticket-the-sdk-never-received")
	if err != nil || ct.AccessToken == "" || fake.Check(ct.AccessToken) != wechattest.CodeOK || ct.ExpiresIn < 7000 {
		t.Fatalf("SetComponentAccessToken through tokend: %+v, %v (upstream says %d)", ct, err, fake.Check(ct.AccessToken))
	}
	if got, err := op.GetComponentAccessTokenContext(ctx); err != nil || got != ct.AccessToken {
		t.Fatalf("the SDK's cached component token: %v", err)
	}
	at, err := op.RefreshAuthrTokenContext(ctx, "wxsdkauth01", "a-stale-refresh-token")
	if err != nil || at.AccessToken == "" || fake.Check(at.AccessToken) != wechattest.CodeOK ||
		at.RefreshToken != fake.AuthorizerRefreshToken(opAppID, "wxsdkauth01") {
		t.Fatalf("RefreshAuthrToken through tokend: %v (upstream says %d)", err, fake.Check(at.AccessToken))
	}
	if got, err := op.GetAuthrAccessTokenContext(ctx, "wxsdkauth01"); err != nil || got != at.AccessToken {
		t.Fatalf("GetAuthrAccessToken: %v", err)
	}
	after := fake.Audit().Fetches
	for _, k := range []string{opAppID + "/component_token", "wxsdkauth01/authorizer_token"} {
		if after[k] != before[k] {
			t.Errorf("%s: %d upstream fetches during the SDK's calls (the leader's 7200 s tokens need none)", k, after[k]-before[k])
		}
	}
	t.Logf("figures: SDK calls answered by tokend; upstream fetches %v", after)
}

// startComponentReplica starts one tokend with the component op-sdk
// (base_url upstream) and no app.
func startComponentReplica(t *testing.T, redisAddr, upstream string) *replica {
	t.Helper()
	port, err := redisserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{id: "r1", addr: "127.0.0.1:" + strconv.Itoa(port)}
	doc, _ := yaml.Marshal(map[string]any{
		"replica_id": r.id,
		"redis":      map[string]any{"url": "redis://" + redisAddr + "/0", "timeout": "250ms"},
		"http":       map[string]any{"listen": r.addr, "auth_tokens_env": "SDK_API_TOKENS"},
		"log":        map[string]any{"format": "text", "level": "info"},
		"components": []any{map[string]any{"id": opID, "appid": opAppID, "secret_env": "SDK_OP_SECRET",
			"token_env": "SDK_OP_TOKEN", "aes_key_env": "SDK_OP_AES_KEY", "base_url": upstream}},
	})
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "r1.yaml")
	if err := os.WriteFile(cfgPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tokendBinary(t), "-config", cfgPath)
	cmd.Env = append(os.Environ(), "SDK_API_TOKENS="+bearer, "SDK_OP_SECRET="+opSecret, "SDK_OP_TOKEN="+opToken, "SDK_OP_AES_KEY="+opAESKey)
	if r.proc, err = harness.StartProc(r.id, cmd, filepath.Join(dir, "r1.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.proc.Kill()
		if t.Failed() {
			t.Logf("r1 log tail:\n%s", r.proc.LogTail(60))
		}
	})
	if _, ok := wait.Poll(20*time.Second, func() bool { code, _ := r.get("/healthz"); return code == 200 }); !ok {
		t.Fatalf("tokend not up:\n%s", r.proc.LogTail(20))
	}
	return r
}

// postJSON sends an authorised POST of body (JSON; nil: none) to the
// replica's /v1 API and decodes a 200 answer into out (nil: ignored).
func (r *replica) postJSON(t *testing.T, path string, body, out any) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(http.MethodPost, r.url()+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d", path, resp.StatusCode)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}
