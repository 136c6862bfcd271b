package browser

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

const (
	app       = "mp"
	appID     = "wxbrowser00000001"
	appSecret = "browser-secret"
	apiKey    = "console-key"
	// pollMS is the console's poll interval (console.PollMS, cmd/tokend/internal/console).
	pollMS = 3000
	// Generous bounds, printed with the measured values: a busy machine
	// must not fail the test, a broken console must.
	renderBound = 2 * time.Second
	weightBound = 100 << 10
)

// replicaRow is the CSS selector of the replica row id.
func replicaRow(id string) string { return `tr[data-replica="` + id + `"]` }

// TestConsole drives the console of a 2-replica tokend in headless
// Chromium: auth prompt, both replicas and the leader, a validity bar
// counting down, an injected 40164 with its meaning, the leader mark
// moving after the leader is killed; page weight, first render, a request
// log on loopback only; and the qualities of quality_test.go: the
// server-rendered first state, first paint figures, colour schemes,
// keyboard, state texts, the errcode guide link, 200% zoom. Screenshots of
// each state go to the test's temp dir.
func TestConsole(t *testing.T) {
	b := newBrowser(t)
	rs := redisserver.Start(t)
	up := wechattest.NewServer(wechattest.Config{Lifetime: 2 * time.Minute})
	t.Cleanup(up.Close)
	up.AddApp(appID, appSecret)
	cluster := harness.NewCluster(t, harness.Config{
		Redis: harness.StandaloneRedis(rs.Addr, ""), APIToken: apiKey, LogLevel: "info",
		Apps: []harness.App{{ID: app, AppID: appID, Secret: appSecret, BaseURL: up.URL}},
	})
	cluster.Start(2)
	leader, _ := cluster.WaitLeader(10*time.Second, nil)
	follower := cluster.Without(leader)[0]
	t.Logf("leader %s, follower %s (the page is loaded from the follower)", leader.ID, follower.ID)

	// Auth: the page asks for a key, refuses a wrong one, keeps a good one.
	b.do(15*time.Second, "open the console", chromedp.Navigate("http://"+follower.Addr+"/ui/"))
	b.waitJS(5*time.Second, "the key prompt", `document.body.dataset.state === "key" && !document.getElementById("keyform").hidden`)
	if id := eval[string](b, `document.activeElement && document.activeElement.id`); id != "key" {
		t.Errorf("the key field does not have the focus (focus on %q)", id)
	}
	b.do(5*time.Second, "type a wrong key", chromedp.SendKeys(chromedp.CSS("#key"), "wrong-key\r"))
	b.waitJS(5*time.Second, "the wrong-key message", `document.getElementById("problem").textContent.includes("Wrong API key")`)
	b.screenshot("01-wrong-key")
	b.do(5*time.Second, "type the key", chromedp.SendKeys(chromedp.CSS("#key"), apiKey+"\r"))
	b.waitJS(10*time.Second, "the status", `document.body.dataset.state === "ready"`)

	// First render (the script's path: key in sessionStorage, status on
	// screen after the first poll) and page weight.
	checkPaint(t, b, "key in sessionStorage", `document.body.dataset.state === "ready"`)
	weight := b.log.size("/ui/") + b.log.size("/ui/console.js")
	t.Logf("figures: page weight %.0f bytes (bound %d)", weight, weightBound)
	if weight <= 0 || weight >= weightBound {
		t.Errorf("page weight %.0f bytes, want (0, %d)", weight, weightBound)
	}

	// Both replicas, and the leader marked (in text, not only colour).
	b.waitJS(10*time.Second, "both replicas listed", `document.querySelector('`+replicaRow(leader.ID)+`') && document.querySelector('`+replicaRow(follower.ID)+`')`)
	b.waitJS(10*time.Second, "the leader marked", `document.querySelector('tr[data-leader]') &&
		document.querySelector('tr[data-leader]').dataset.replica === "`+leader.ID+`" &&
		document.querySelector('tr[data-leader]').textContent.includes("leader")`)
	b.screenshot("02-replicas-and-leader")

	// The validity bar counts down between two looks.
	meter := `document.querySelector('tr[data-credential="` + app + `"] meter')`
	b.waitJS(10*time.Second, "the token's validity bar", meter+` && `+meter+`.value > 0`)
	v1 := eval[float64](b, meter+`.value`)
	time.Sleep(2100 * time.Millisecond) // two ticks of the countdown
	v2 := eval[float64](b, meter+`.value`)
	t.Logf("figures: validity bar %.0f ms then %.0f ms left", v1, v2)
	if !(v2 < v1) {
		t.Errorf("validity bar did not decrease: %.0f then %.0f", v1, v2)
	}
	b.screenshot("03-validity")

	// An injected 40164 shows with its meaning within one poll.
	up.SetFault(wechattest.Fault{Errcode: 40164, Errmsg: "invalid ip 10.0.0.1, not in whitelist"})
	report(t, follower.Addr, currentToken(t, rs))
	waitStatus(t, follower, 15*time.Second, func(st harness.Status) bool { return len(st.Apps) > 0 && st.Apps[0].LastErrorCode == 40164 })
	took := b.waitJS(pollMS*time.Millisecond+3*time.Second, "40164 and its meaning on the page",
		`document.querySelector('tr[data-credential="`+app+`"]').textContent.includes("this host's IP is not in the WeChat whitelist")`)
	t.Logf("figures: 40164 shown %s after status had it (poll %d ms)", took.Round(10*time.Millisecond), pollMS)
	b.waitJS(pollMS*time.Millisecond+3*time.Second, "40164 in the recent events", `document.querySelector("#audit").textContent.includes("40164")`)
	b.screenshot("04-error-40164")
	checkStateText(t, b)
	checkColorSchemes(t, b)
	checkKeyboard(t, b)
	checkGuideLink(t, b, follower.Addr)
	checkServerRendered(t, b, leader.ID, follower.Addr)
	up.ClearFault()

	// Killing the leader moves the leader mark.
	leader.Kill()
	took = b.waitJS(20*time.Second, "the leader mark on the follower", `document.querySelector('tr[data-leader]') &&
		document.querySelector('tr[data-leader]').dataset.replica === "`+follower.ID+`"`)
	t.Logf("figures: leader mark moved %s after the kill", took.Round(10*time.Millisecond))
	b.screenshot("05-leader-moved")

	checkZoom(t, b, follower.Addr)

	if bad, n := b.log.offLoopback(); len(bad) > 0 || n == 0 {
		t.Errorf("requests off 127.0.0.1 (%d of %d): %v", len(bad), n, bad)
	} else {
		t.Logf("figures: %d requests, all to 127.0.0.1", n)
	}
}

// currentToken is the token tokend stored for app.
func currentToken(t *testing.T, rs *redisserver.Server) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	tok, err := rs.Client().Get(ctx, "{tokend}:token:"+app).Result()
	if err != nil {
		t.Fatalf("read the token: %v", err)
	}
	return tok
}

// report reports tok as rejected, so that the leader fetches (and meets
// the fault); the answer does not matter.
func report(t *testing.T, addr, tok string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/apps/"+app+"/refresh",
		strings.NewReader(`{"invalid_token":"`+tok+`"}`))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// waitStatus waits until p's status satisfies ok.
func waitStatus(t *testing.T, p *harness.Process, timeout time.Duration, ok func(harness.Status) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := p.Status(ctx)
		cancel()
		if err == nil && ok(st) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("status of %s: condition not met within %s", p.ID, timeout)
}
