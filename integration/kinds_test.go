package integration

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/redisserver"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
)

// Timings of the credential-kind scenarios.
const (
	// kindLifetime is the life of every token and ticket of the fake.
	kindLifetime = 5 * time.Second
	// kindOverlap: a superseded classic token works this much longer; a
	// stable token call in the last kindOverlap gets a new token.
	kindOverlap = time.Second
	// kindRetry is tokend's RetryMin (the refresher's default, 1s: not a
	// configuration key): a same-value credential past its expiry is asked
	// again this often, so readers see no gap longer than kindRetry plus
	// one fetch at a rollover.
	kindRetry = time.Second
	// fetchSlack is what a rollover's gap may exceed kindRetry by: the
	// fetch, the write, the readers' poll and a busy machine's scheduling.
	fetchSlack = 750 * time.Millisecond
)

// kindCase is one provider's app as the scenarios configure it, and where
// the fake counts and serves its credentials.
type kindCase struct {
	name     string // subtest name, also the provider
	appid    string // upstream id (WeCom: corpid; Feishu: app_id; DingTalk: appkey)
	agentid  string // WeCom only
	tickets  []string
	register func(*wechattest.Server) error
	key      string // the fake's app key (audit, Status.App)
	family   string // the fake's token family ("token", "stable_token")
	tokenEP  string // fault endpoint of the token call
	// tokenEmpty is a successful token answer with an empty token.
	tokenEmpty string
	// life is how long one token serves before the upstream hands out the
	// next (lo..hi); 0, 0: never replaced (DingTalk extends it on every
	// call). newPerCall: every call issues a new token (classic WeChat).
	life       func(l time.Duration) (lo, hi time.Duration)
	newPerCall bool
	// reportRetires: a report of the token is answered with a new token
	// and the reported one dies at once (the stable endpoint's
	// force_refresh).
	reportRetires bool
	ticketEP      map[string]string // fault endpoint by ticket kind
	owner         map[string]string // the fake's owner of each ticket kind
	// longFault is the endpoint failed for a whole value's life.
	longFault string
}

// Empty answers and the ticket answer of every platform.
const (
	emptyWeChat = `{"access_token":"","expires_in":7200}`
	emptyErrEnv = `{"errcode":0,"errmsg":"ok","access_token":"","expires_in":7200}`
	emptyFeishu = `{"code":0,"msg":"ok","tenant_access_token":"","expire":7200}`
	emptyTicket = `{"errcode":0,"errmsg":"ok","ticket":"","expires_in":7200}`
)

func kindCases() []kindCase {
	const wx, stable, corp, agent, fs, dt = "wx00000000000kind1", "wx00000000000kind2", "ww00000000000kind3", "1000002", "cli_0000000kind4", "ding0000000kind5"
	wecomKey := wechattest.WeComKey(corp, agent)
	half := func(l time.Duration) (time.Duration, time.Duration) { return l * 45 / 100, l / 2 }
	full := func(l time.Duration) (time.Duration, time.Duration) { return l, l }
	return []kindCase{
		{
			name: "wechat", appid: wx, tickets: []string{"jsapi", "wx_card"},
			register: func(s *wechattest.Server) error { s.AddApp(wx, appSecret); return nil },
			key:      wx, family: "token", tokenEP: "token", tokenEmpty: emptyWeChat, life: half, newPerCall: true,
			ticketEP:  map[string]string{"jsapi": "getticket", "wx_card": "getticket"},
			owner:     map[string]string{"jsapi": wx, "wx_card": wx},
			longFault: "getticket",
		},
		{
			name: "wechat_stable", appid: stable,
			register: func(s *wechattest.Server) error { s.AddApp(stable, appSecret); return nil },
			key:      stable, family: "stable_token", tokenEP: "stable_token", tokenEmpty: emptyWeChat,
			life:          func(l time.Duration) (time.Duration, time.Duration) { return l - kindOverlap, l },
			reportRetires: true, longFault: "stable_token",
		},
		{
			name: "wecom", appid: corp, agentid: agent, tickets: []string{"jsapi", "agent_config"},
			register: func(s *wechattest.Server) error { return s.AddWeCom(corp, agent, appSecret) },
			key:      wecomKey, family: "token", tokenEP: "wecom/gettoken", tokenEmpty: emptyErrEnv, life: full,
			ticketEP:  map[string]string{"jsapi": "wecom/get_jsapi_ticket", "agent_config": "wecom/ticket/get"},
			owner:     map[string]string{"jsapi": wechattest.WeComCorpKey(corp), "agent_config": wecomKey},
			longFault: "wecom/gettoken",
		},
		{
			name: "feishu", appid: fs,
			register: func(s *wechattest.Server) error { s.AddFeishu(fs, appSecret); return nil },
			key:      wechattest.FeishuKey(fs), family: "token", tokenEP: "feishu/tenant_access_token", tokenEmpty: emptyFeishu,
			// A new token once less than a quarter of the lifetime is left
			// (the fake's default window for short lifetimes).
			life:      func(l time.Duration) (time.Duration, time.Duration) { return l * 3 / 4, l },
			longFault: "feishu/tenant_access_token",
		},
		{
			name: "dingtalk", appid: dt, tickets: []string{"jsapi"},
			register: func(s *wechattest.Server) error { s.AddDingTalk(dt, appSecret); return nil },
			key:      wechattest.DingTalkKey(dt), family: "token", tokenEP: "dingtalk/gettoken", tokenEmpty: emptyErrEnv,
			life:      func(time.Duration) (time.Duration, time.Duration) { return 0, 0 },
			ticketEP:  map[string]string{"jsapi": "dingtalk/get_jsapi_ticket"},
			owner:     map[string]string{"jsapi": wechattest.DingTalkKey(dt)},
			longFault: "dingtalk/get_jsapi_ticket",
		},
	}
}

// cred is one credential of a kindCase: how to judge its values and where
// the fake counts its calls and values.
type cred struct {
	id          string // tokend credential id
	check       harness.CheckMode
	owner, kind string // what the fake says of a live value (Status.App, .Kind)
	ticket      bool
	callsKey    string // Audit.Fetches (token) or Audit.Tickets (ticket)
	issuedKey   string // Audit.Issued or Audit.TicketsIssued
	ep, empty   string // fault endpoint; a success with an empty value
	lifeLo      time.Duration
	lifeHi      time.Duration // 0: never replaced
	newPerCall  bool
	// reportRetires: a report kills the reported value at once.
	reportRetires bool
}

func (c cred) calls(a wechattest.Audit) int {
	if c.ticket {
		return a.Tickets[c.callsKey]
	}
	return a.Fetches[c.callsKey]
}

func (c cred) issued(a wechattest.Audit) int {
	if c.ticket {
		return a.TicketsIssued[c.issuedKey]
	}
	return a.Issued[c.issuedKey]
}

// creds lists the app's token and tickets; app is the tokend app id, l
// and tl the fake's token and ticket lifetimes.
func (kc kindCase) creds(app string, l, tl time.Duration) []cred {
	lo, hi := kc.life(l)
	out := []cred{{
		id: app, check: harness.CheckToken, owner: kc.key, kind: kc.family,
		callsKey: kc.key + "/" + kc.family, issuedKey: kc.key + "/" + kc.family,
		ep: kc.tokenEP, empty: kc.tokenEmpty, lifeLo: lo, lifeHi: hi, newPerCall: kc.newPerCall,
		reportRetires: kc.reportRetires,
	}}
	for _, k := range kc.tickets {
		out = append(out, cred{
			id: app + ":" + k, check: harness.CheckTicket, owner: kc.owner[k], kind: k, ticket: true,
			callsKey: kc.key + "/" + k, issuedKey: kc.owner[k] + "/" + k,
			ep: kc.ticketEP[k], empty: emptyTicket, lifeLo: tl, lifeHi: tl,
		})
	}
	return out
}

// kindEnv is one kind's world: its own redis-server, fake upstream and
// three tokend replicas keeping one app.
type kindEnv struct {
	t       *testing.T
	kc      kindCase
	rdb     *redis.Client
	st      *store.Store
	srv     *wechattest.Server
	cluster *harness.Cluster
	creds   []cred
}

func newKindEnv(t *testing.T, kc kindCase) *kindEnv {
	t.Helper()
	return newKindEnvWith(t, kc, wechattest.Config{
		Lifetime: kindLifetime, TicketLifetime: kindLifetime, Overlap: kindOverlap, DailyQuota: -1,
	}, nil)
}

// newKindEnvWith is newKindEnv with the fake's config, and tweak (if not
// nil) adjusting the app's config.
func newKindEnvWith(t *testing.T, kc kindCase, fake wechattest.Config, tweak func(*harness.App)) *kindEnv {
	t.Helper()
	rs := redisserver.Start(t)
	srv := wechattest.NewServer(fake)
	t.Cleanup(srv.Close)
	if err := kc.register(srv); err != nil {
		t.Fatal(err)
	}
	app := harness.App{
		ID: "k-" + strings.ReplaceAll(kc.name, "_", "-"), Provider: kc.name, AppID: kc.appid, AgentID: kc.agentid,
		Tickets: kc.tickets, Secret: appSecret, BaseURL: srv.URL,
	}
	if tweak != nil {
		tweak(&app)
	}
	cfg := harness.Config{Redis: harness.StandaloneRedis(rs.Addr, ""), Apps: []harness.App{app}, LogLevel: "info"}
	st, err := store.New(store.Config{Client: rs.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return &kindEnv{
		t: t, kc: kc, rdb: rs.Client(), st: st, srv: srv,
		cluster: harness.NewCluster(t, cfg), creds: kc.creds(app.ID, fake.Lifetime, fake.TicketLifetime),
	}
}

// record reads a credential's record (zero when absent or on error).
func (e *kindEnv) record(id string) store.Record {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rec, _ := e.st.Record(ctx, id)
	return rec
}

// status reads a credential's status hash.
func (e *kindEnv) status(id string) store.Status {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, _ := e.st.Status(ctx, id)
	return s
}

// waitAll waits until every credential holds a valid value.
func (e *kindEnv) waitAll(timeout time.Duration, what string) {
	e.t.Helper()
	wait.For(e.t, timeout, what, func() bool {
		for _, c := range e.creds {
			if !e.record(c.id).Valid() {
				return false
			}
		}
		return true
	})
}

// checkers starts one invariant checker per credential.
func (e *kindEnv) checkers(report bool) []*harness.Checker {
	out := make([]*harness.Checker, len(e.creds))
	for i, c := range e.creds {
		out[i] = harness.StartChecker(e.t, harness.CheckerConfig{
			Server: e.srv, Redis: e.rdb, App: c.id, Check: c.check, Owner: c.owner, Kind: c.kind,
			GetReaders: 2, LibReaders: 1, Interval: 10 * time.Millisecond, Report: report,
		})
	}
	return out
}

func stopAll(chks []*harness.Checker) []harness.Stats {
	out := make([]harness.Stats, len(chks))
	for i, c := range chks {
		out[i] = c.Stop()
	}
	return out
}

// TestKinds runs every credential kind on its own redis-server, fake
// upstream and three tokend replicas, all kinds at once (each subtest runs
// in its own goroutine: they share nothing, and -parallel would hold them
// to GOMAXPROCS). Like the other credential scenarios it is parallel: it
// runs after the sequential tests, beside TestTicket_parentRotatedOutOfBand
// and TestProbe_outOfBandRotation. Per kind, in order:
//
//   - rollovers (kindRollovers): several lifetimes of the token and its
//     tickets, with a leader SIGKILL when every credential is mid-life;
//   - garbage (kindGarbage): HTML, truncated JSON, -1 and an empty value
//     from every endpoint of the kind, then one endpoint failing for a
//     whole value's life.
func TestKinds(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for _, kc := range kindCases() {
		wg.Go(func() {
			t.Run(kc.name, func(t *testing.T) {
				e := newKindEnv(t, kc)
				e.cluster.Start(3)
				e.cluster.WaitLeader(5*time.Second, nil)
				e.waitAll(10*time.Second, "the first value of every credential")
				kindRollovers(e)
				kindGarbage(e)
			})
		})
	}
	wg.Wait()
}
