package sdk

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/officialaccount"
	offConfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// TestProxy_SDK: silenceper/wechat, unchanged but for its one base-URL
// setting (util.SetURIModifier) pointing at tokend in proxy mode, two
// replicas behind a round-robin "load balancer", makes ordinary API calls
// (user/info, message/custom/send) from 4 instances while the token is
// rotated out of band (someone else fetched it; the fake keeps the old
// one alive for only 1 ms). Every call succeeds — the proxy's
// compare-and-refresh and retry hide the rotation — and the upstream sees
// exactly one extra token fetch.
func TestProxy_SDK(t *testing.T) {
	const (
		appid    = "wxproxysdk"
		secret   = "wxproxysdk-secret-0123456789"
		workers  = 4
		perPhase = 15 // calls per worker before and after the rotation
	)
	rs := redisserver.Start(t)
	up := wechattest.NewServer(wechattest.Config{Lifetime: time.Hour, Overlap: time.Millisecond, DailyQuota: -1})
	t.Cleanup(up.Close)
	up.AddApp(appid, secret)
	reps := startReplicas(t, 2, rs.Addr, []tokendApp{{ID: "proxy-mp", AppID: appid, Secret: secret, BaseURL: up.URL}},
		map[string]any{"proxy": true})

	var next atomic.Int64
	util.SetURIModifier(func(uri string) string { // the one SDK setting
		return strings.Replace(uri, "https://api.weixin.qq.com", reps[next.Add(1)%int64(len(reps))].url(), 1)
	})
	savedClient := util.DefaultHTTPClient
	util.DefaultHTTPClient = &http.Client{Timeout: 20 * time.Second}
	t.Cleanup(func() { util.SetURIModifier(nil); util.DefaultHTTPClient = savedClient })

	var oas []*officialaccount.OfficialAccount
	for range workers {
		oas = append(oas, officialaccount.NewOfficialAccount(&offConfig.Config{AppID: appid, AppSecret: secret, Cache: cache.NewMemory()}))
	}
	var failed atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	phase := func() {
		var wg sync.WaitGroup
		for i, oa := range oas {
			wg.Go(func() {
				for j := range perPhase {
					var err error
					if j%2 == 0 {
						_, err = oa.GetUser().GetUserInfo("openid-" + string(rune('a'+i)))
					} else {
						err = oa.GetCustomerMessageManager().Send(message.NewCustomerTextMessage("openid-a", "hello"))
					}
					if err != nil {
						failed.Add(1)
						errMu.Lock()
						firstErr = errors.Join(firstErr, errors.New(codeOf(err)))
						errMu.Unlock()
					}
				}
			})
		}
		wg.Wait()
	}
	phase()
	a0 := up.Audit()
	if up.Rotate(appid) == "" {
		t.Fatal("Rotate: unknown appid")
	}
	phase()
	// A report in flight could still end in a fetch: wait until tokend
	// serves a live token, then judge.
	wait.For(t, 10*time.Second, "tokend's token live again", func() bool {
		var ans struct {
			AccessToken string `json:"access_token"`
		}
		code, body := reps[0].get("/v1/apps/proxy-mp/token")
		return code == 200 && json.Unmarshal(body, &ans) == nil && up.CheckToken(ans.AccessToken).Live()
	})
	a1 := up.Audit()
	fetches := a1.Fetches[appid+"/token"] - a0.Fetches[appid+"/token"]
	calls := a1.Passthrough[appid+"/user/info"] + a1.Passthrough[appid+"/message/custom/send"]
	t.Logf("%d SDK calls through 2 replicas, %d failed; upstream: %d successful pass-through calls, %d token fetches after the rotation, %d refused (superseded) first attempts",
		2*workers*perPhase, failed.Load(), calls, fetches, a1.Superseded-a0.Superseded)
	if failed.Load() != 0 {
		t.Fatalf("%d SDK calls failed: %v", failed.Load(), firstErr)
	}
	if fetches != 1 {
		t.Fatalf("%d upstream token fetches after the rotation, want exactly 1", fetches)
	}
	if calls != 2*workers*perPhase {
		t.Fatalf("%d pass-through calls reached the upstream, want %d", calls, 2*workers*perPhase)
	}
}
