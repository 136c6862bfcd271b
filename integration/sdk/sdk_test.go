package sdk

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// Time compression. Each SDK keeps a token by its own rule, so each fake
// upstream's token lifetime suits its SDKs, and tokens truly live what
// the fake reports (an upstream that lied about lifetimes would make
// tokend refresh late):
//   - silenceper/wechat keeps a token for expires_in - 1500 s: tokens of
//     1,530 s give it a 30 s cache (fake A); wechat-jssdk (fake A too)
//     keeps everything 119 minutes, so run.js calls its renewal every 10 s;
//   - co-wechat-api keeps a token until 10 s before expires_in: tokens of
//     40 s (fake B) make it renew every 30 s at most, while tokend
//     refreshes at half their life, every 20 s.
//
// Both fakes keep a superseded token alive for 5 s (WeChat: 5 minutes).
const (
	lifetimeA = 1530 * time.Second
	lifetimeB = 40 * time.Second
	overlap   = 5 * time.Second
	runFor    = 70 * time.Second
	pause     = 300 * time.Millisecond
	instances = 4
	replicas  = 3
	jsRenew   = 10 * time.Second
)

// mode is one way an SDK family ran: behind tokend, or straight at the
// fake upstream.
type mode struct {
	appid  string
	egress []*egress
	failed int // API calls that failed, as the SDK reported them
	// ticketFailed counts failed ticket calls; signatures and mismatches
	// are wechat-jssdk's comparisons with tokend's signature route.
	ticketFailed, signatures, mismatches int
	codes                                map[string]int
}

// sdkFamily is one SDK run both ways.
type sdkFamily struct {
	name           string
	up             *wechattest.Server
	life           time.Duration // the lifetime of up's tokens
	tokendApp      string        // the tokend app id behind which it runs
	tokend, direct *mode
}

func newMode(t *testing.T, up *wechattest.Server, appid, secret string, reps []*replica) *mode {
	up.AddApp(appid, secret)
	m := &mode{appid: appid, codes: map[string]int{}}
	for i := range instances {
		tokend := ""
		if reps != nil {
			tokend = reps[i%len(reps)].url()
		}
		m.egress = append(m.egress, newEgress(t, up, tokend))
	}
	return m
}

func (m *mode) add(failed, ticketFailed int, codes map[string]int) {
	m.failed += failed
	m.ticketFailed += ticketFailed
	for k, v := range codes {
		m.codes[k] += v
	}
}

// TestSDKs runs real SDKs, unchanged, 4 instances each, against 3 tokend
// replicas on a real redis-server and the fake upstream, and the same
// SDKs straight at the fake upstream, side by side, long enough for each
// SDK to renew its cached token several times. Behind tokend: upstream
// fetches are tokend's own (one per write of its schedule), no API call
// fails with an invalidated token, no ticket handed out is dead, and
// wechat-jssdk's page signature equals tokend's signature route.
func TestSDKs(t *testing.T) {
	node := requireNode(t)
	rs := redisserver.Start(t)
	upA := wechattest.NewServer(wechattest.Config{Lifetime: lifetimeA, Overlap: overlap, DailyQuota: -1, TicketRemainingExpiresIn: true})
	t.Cleanup(upA.Close)
	upB := wechattest.NewServer(wechattest.Config{Lifetime: lifetimeB, Overlap: overlap, DailyQuota: -1, TicketRemainingExpiresIn: true})
	t.Cleanup(upB.Close)
	secret := func(appid string) string { return appid + "-secret-0123456789" }
	for _, a := range []struct {
		up    *wechattest.Server
		appid string
	}{{upA, "wxgo"}, {upA, "wxjs"}, {upB, "wxnode"}} {
		a.up.AddApp(a.appid, secret(a.appid))
	}
	start := time.Now()
	reps := startReplicas(t, replicas, rs.Addr, []tokendApp{
		{ID: "go-mp", AppID: "wxgo", Secret: secret("wxgo"), BaseURL: upA.URL, Tickets: []string{"jsapi"}},
		{ID: "js-mp", AppID: "wxjs", Secret: secret("wxjs"), BaseURL: upA.URL, Tickets: []string{"jsapi"}},
		{ID: "node-mp", AppID: "wxnode", Secret: secret("wxnode"), BaseURL: upB.URL, Tickets: []string{"jsapi"}},
	})
	waitServed(t, reps, "/v1/apps/go-mp/tickets/jsapi", "/v1/apps/js-mp/tickets/jsapi", "/v1/apps/node-mp/tickets/jsapi")
	fams := []*sdkFamily{
		{name: "silenceper/wechat v2.1.10 (Go)", up: upA, life: lifetimeA, tokendApp: "go-mp"},
		{name: "wechat-jssdk 5.1.0 (Node)", up: upA, life: lifetimeA, tokendApp: "js-mp"},
		{name: "co-wechat-api 3.11.0 (Node)", up: upB, life: lifetimeB, tokendApp: "node-mp"},
	}
	for _, f := range fams {
		appid := map[string]string{"go-mp": "wxgo", "js-mp": "wxjs", "node-mp": "wxnode"}[f.tokendApp]
		f.tokend = newMode(t, f.up, appid, secret(appid), reps)
		f.direct = newMode(t, f.up, appid+"-direct", secret(appid+"-direct"), nil)
	}

	ctx, cancel := context.WithTimeout(context.Background(), runFor+time.Minute)
	defer cancel()
	deadline := time.Now().Add(runFor)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		nodeOut []nodeResult
		nodeErr error
	)
	goSDK := fams[0]
	for _, m := range []*mode{goSDK.tokend, goSDK.direct} {
		for _, eg := range m.egress {
			wg.Go(func() {
				r := runSilenceper(ctx, eg, m.appid, secret(m.appid), deadline, pause)
				mu.Lock()
				m.add(r.Failed, r.TicketFailed, r.Codes)
				mu.Unlock()
			})
		}
	}
	nodeModes := nodeInstances(fams[1], fams[2], reps, secret)
	wg.Go(func() {
		var in []nodeInstance
		for _, nm := range nodeModes {
			in = append(in, nm.inst)
		}
		nodeOut, nodeErr = runNode(ctx, node, in, runFor, pause)
	})
	wg.Wait()
	if nodeErr != nil {
		t.Fatal(nodeErr)
	}
	for i, r := range nodeOut {
		if r.Crashed != "" {
			t.Errorf("%s crashed: %s", r.Name, r.Crashed)
		}
		m := nodeModes[i].mode
		m.add(r.Failed, r.TicketFailed, r.Codes)
		m.signatures += r.Signatures
		m.mismatches += r.SignatureMismatches
		if r.FirstMismatch != nil {
			t.Errorf("%s: signature differs from tokend's: %v", r.Name, r.FirstMismatch)
		}
	}
	snap := settle(ctx, t, reps[0], fams)
	report(t, fams, snap)
	for _, f := range fams {
		check(t, f, snap, time.Since(start))
	}
}

// snapshot is tokend's writes per app and the upstream fetches per appid
// at one moment.
type snapshot struct {
	writes  map[string]int64
	fetches map[string]int
}

// settle reads tokend's writes between two reads of the fakes' fetches
// and returns them once no fetch happened in between and every tokend
// app's fetches equal its writes, or the last reading after 20 tries
// 100 ms apart (a fetch lands just before its write).
func settle(ctx context.Context, t *testing.T, r *replica, fams []*sdkFamily) snapshot {
	t.Helper()
	fetches := func() map[string]int {
		out := map[string]int{}
		for _, f := range fams {
			for k, v := range f.up.Audit().Fetches {
				if appid, ok := strings.CutSuffix(k, "/token"); ok {
					out[appid] = v
				}
			}
		}
		return out
	}
	var snap snapshot
	for range 20 {
		before := fetches()
		writes, err := r.versions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		snap = snapshot{writes: writes, fetches: fetches()}
		same := maps.Equal(before, snap.fetches)
		for _, f := range fams {
			same = same && int64(snap.fetches[f.tokend.appid]) == writes[f.tokendApp]
		}
		if same {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return snap
}

// nodeMode pairs a run.js instance with the mode it counts for.
type nodeMode struct {
	inst nodeInstance
	mode *mode
}

// nodeInstances configures run.js: wechat-jssdk (js) and co-wechat-api
// (co), 4 instances each, behind tokend and direct.
func nodeInstances(js, co *sdkFamily, reps []*replica, secret func(string) string) []nodeMode {
	var out []nodeMode
	for _, f := range []*sdkFamily{js, co} {
		sdk := "wechat-jssdk"
		if f == co {
			sdk = "co-wechat-api"
		}
		for _, m := range []*mode{f.tokend, f.direct} {
			for i, eg := range m.egress {
				in := nodeInstance{Name: fmt.Sprintf("%s %s #%d", sdk, m.appid, i), SDK: sdk, AppID: m.appid, Secret: secret(m.appid), Router: eg.URL}
				if f == js {
					in.RenewMs = jsRenew.Milliseconds()
					if m == f.tokend {
						in.SignURL, in.Bearer = reps[i%len(reps)].url()+"/v1/apps/"+f.tokendApp+"/signature", bearer
					}
				}
				out = append(out, nodeMode{in, m})
			}
		}
	}
	return out
}

// totals sums the egress counts of m.
func (m *mode) totals() (cred, api, dead, deadTickets int64, perInstance []int64) {
	for _, eg := range m.egress {
		c := eg.stats.credential.Load()
		cred += c
		api += eg.stats.api.Load()
		dead += eg.stats.dead.Load()
		deadTickets += eg.stats.deadTickets.Load()
		perInstance = append(perInstance, c)
	}
	return
}

// report prints both modes of every family side by side.
func report(t *testing.T, fams []*sdkFamily, snap snapshot) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-32s %-7s %8s %9s %9s %7s %11s %11s %s\n", "SDK (4 instances)", "via", "upstream", "SDK token", "API calls", "failed", "40001/42001", "dead", "failed calls by code")
	fmt.Fprintf(&b, "%-32s %-7s %8s %9s %9s %7s %11s %11s\n", "", "", "fetches", "+ticket", "", "", "answers", "tickets")
	for _, f := range fams {
		for _, row := range []struct {
			via string
			m   *mode
		}{{"tokend", f.tokend}, {"direct", f.direct}} {
			cred, api, dead, deadT, _ := row.m.totals()
			fmt.Fprintf(&b, "%-32s %-7s %8d %9d %9d %7d %11d %11d %v\n", f.name, row.via, snap.fetches[row.m.appid],
				cred, api, row.m.failed+row.m.ticketFailed, dead, deadT, row.m.codes)
		}
	}
	fmt.Fprintf(&b, "tokend's writes per credential (its schedule): %v; wechat-jssdk signatures compared with tokend's: %d\n", snap.writes, fams[1].tokend.signatures)
	t.Log(b.String())
}

// check asserts the tokend mode of f: fetches are the writes of tokend's
// schedule (at most one per half lifetime), no failed API call, no dead
// ticket, no failed ticket call but -1 at a rollover, every instance
// renewed several times, and (wechat-jssdk) equal signatures; and that
// the direct mode really ran against the upstream.
func check(t *testing.T, f *sdkFamily, snap snapshot, elapsed time.Duration) {
	t.Helper()
	fetches, writes := int64(snap.fetches[f.tokend.appid]), snap.writes[f.tokendApp]
	if limit := 2 + int64(elapsed/(f.life/2)); fetches != writes || fetches > limit || fetches < 1 {
		t.Errorf("%s behind tokend: %d upstream fetches, tokend wrote %d (its schedule allows at most %d in %s)", f.name, fetches, writes, limit, elapsed.Round(time.Second))
	}
	// A ticket call at the instant a ticket rolls over may be answered -1
	// (retry): the upstream hands out the new ticket only once the old one
	// expired, and tokend stops serving the old one safety_margin earlier.
	// That is no dead credential; any other failure is.
	busy := f.tokend.codes["ticket:-1"] + f.tokend.codes["renew:-1"]
	_, api, _, deadT, per := f.tokend.totals()
	if f.tokend.failed != 0 || f.tokend.ticketFailed != busy || deadT != 0 {
		t.Errorf("%s behind tokend: %d failed API calls, %d failed ticket calls (%d of them -1 at a ticket rollover), %d dead tickets (codes %v)",
			f.name, f.tokend.failed, f.tokend.ticketFailed, busy, deadT, f.tokend.codes)
	}
	for i, n := range per {
		if n < 3 {
			t.Errorf("%s behind tokend: instance %d renewed its token or ticket %d times, want several", f.name, i, n)
		}
	}
	if api < int64(instances)*int64(runFor/pause)/4 {
		t.Errorf("%s behind tokend: only %d API calls", f.name, api)
	}
	if f.tokend.mismatches != 0 || (f.tokendApp == "js-mp" && f.tokend.signatures == 0) {
		t.Errorf("%s: %d of %d signatures differ from tokend's", f.name, f.tokend.mismatches, f.tokend.signatures)
	}
	if direct := snap.fetches[f.direct.appid]; direct < instances {
		t.Errorf("%s direct: %d upstream fetches: the instances did not reach the upstream", f.name, direct)
	}
}
