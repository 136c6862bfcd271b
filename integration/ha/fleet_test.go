package ha

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/reader"
)

// Compressed time: tokens live 6s, a superseded token keeps working 1s.
// The refresher fetches when 2s are left, but never before half the life:
// one fetch about every 4s (jitter takes off at most 5% of the lifetime).
const (
	app           = "mp"
	appID         = "wxha000000000001"
	appSecret     = "ha-secret"
	lifetime      = 6 * time.Second
	overlap       = time.Second
	minCycle      = lifetime/2 - lifetime/20 // shortest time between two scheduled fetches
	redisTimeout  = 300 * time.Millisecond
	readInterval  = 10 * time.Millisecond
	observeEvery  = 10 * time.Millisecond
	leaseTTL      = 3 * time.Second
	renewDeadline = 2 * time.Second
)

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() && os.Getenv("HA_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// fleet is three tokend replicas in-process, the fake upstream, readers and
// an observer of the stored record.
type fleet struct {
	t         *testing.T
	fake      *wechattest.Server
	newClient func() redis.UniversalClient
	start     time.Time

	tickets *ticketLog
	meta    *metaLog
	reads   *readLog

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	members []*member
	clients []redis.UniversalClient // closed by stop, after the goroutines
}

type member struct {
	id  string
	ref *refresher.Refresher
}

// newFleet starts the fake upstream. newClient must return a fresh client
// with short timeouts for each caller.
func newFleet(t *testing.T, newClient func() redis.UniversalClient) *fleet {
	f := &fleet{
		t: t, newClient: newClient, start: time.Now(),
		tickets: &ticketLog{}, meta: &metaLog{}, reads: &readLog{},
	}
	f.fake = wechattest.NewServer(wechattest.Config{Lifetime: lifetime, Overlap: overlap, DailyQuota: -1})
	f.fake.AddApp(appID, appSecret)
	f.ctx, f.cancel = context.WithCancel(context.Background())
	t.Cleanup(f.stop)
	return f
}

func (f *fleet) client() redis.UniversalClient {
	c := f.newClient()
	f.clients = append(f.clients, c)
	return c
}

// startReplicas starts n replicas with storeCfg's MinReplicasAck and
// WaitTimeout.
func (f *fleet) startReplicas(n int, ack store.Config) {
	for i := range n {
		id := fmt.Sprintf("r%d", i)
		rdb := f.client()
		st, err := store.New(store.Config{Client: rdb, MinReplicasAck: ack.MinReplicasAck, WaitTimeout: ack.WaitTimeout})
		if err != nil {
			f.t.Fatal(err)
		}
		keys := st.Keys()
		el, err := lock.New(lock.Config{
			Client: rdb, Key: keys.Lease(), EpochKey: keys.Epoch(), Channel: keys.Events(), ID: id,
			LeaseTTL: leaseTTL, RenewInterval: 500 * time.Millisecond, RenewDeadline: renewDeadline,
			RetryInterval: 300 * time.Millisecond, OpTimeout: 250 * time.Millisecond, Logger: testLogger(f.t),
		})
		if err != nil {
			f.t.Fatal(err)
		}
		prov, err := wechat.NewClassic(wechat.Config{AppID: appID, Secret: appSecret, BaseURL: f.fake.URL, MinExpiresIn: time.Second})
		if err != nil {
			f.t.Fatal(err)
		}
		ref, err := refresher.New(refresher.Config{
			Store: recordingStore{st, f.tickets}, Elector: el,
			Apps:         []refresher.App{{ID: app, Provider: prov, Kind: "wechat"}},
			BeforeExpiry: 2 * time.Second, SafetyMargin: 500 * time.Millisecond, Cooldown: 500 * time.Millisecond,
			DailyBudget: -1, FetchTimeout: 2 * time.Second, RetryMin: 100 * time.Millisecond, RetryMax: time.Second,
			ConfigRetry: time.Second, ReportPoll: 500 * time.Millisecond, Logger: testLogger(f.t),
		})
		if err != nil {
			f.t.Fatal(err)
		}
		f.members = append(f.members, &member{id: id, ref: ref})
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			if err := ref.Run(f.ctx); err != nil {
				f.t.Errorf("replica %s: %v", id, err)
			}
		}()
	}
}

func (f *fleet) stop() {
	f.cancel()
	f.wg.Wait()
	for _, c := range f.clients {
		_ = c.Close()
	}
	f.clients = nil
	f.fake.Close()
}

// leaders returns the ids of the replicas that lead now.
func (f *fleet) leaders() []string {
	var ids []string
	for _, m := range f.members {
		if _, ok := m.ref.Leading(); ok {
			ids = append(ids, m.id)
		}
	}
	return ids
}

func (f *fleet) since() time.Duration { return time.Since(f.start) }

// recordingStore records every ticket the refresher takes.
type recordingStore struct {
	*store.Store
	log *ticketLog
}

func (s recordingStore) TakeTicket(ctx context.Context, app, lease string, budget int) (store.Ticket, error) {
	start := time.Now()
	tk, err := s.Store.TakeTicket(ctx, app, lease, budget)
	if err == nil { // acknowledged by replicas or not
		s.log.add(takenTicket{n: tk.N, start: start, end: time.Now()})
	}
	return tk, err
}

type takenTicket struct {
	n          int64
	start, end time.Time
}

type ticketLog struct {
	mu  sync.Mutex // guards all
	all []takenTicket
}

func (l *ticketLog) add(t takenTicket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, t)
}

// check verifies that tickets never repeat and grow with real time: a
// ticket taken after another one returned is greater.
func (l *ticketLog) check(t *testing.T) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[int64]bool{}
	for i, a := range l.all {
		if seen[a.n] {
			t.Errorf("ticket %d was taken twice", a.n)
		}
		seen[a.n] = true
		for _, b := range l.all[i+1:] {
			if a.end.Before(b.start) && b.n <= a.n {
				t.Errorf("ticket %d taken after ticket %d returned", b.n, a.n)
			}
			if b.end.Before(a.start) && a.n <= b.n {
				t.Errorf("ticket %d taken after ticket %d returned", a.n, b.n)
			}
		}
	}
	return len(l.all)
}

// metaLog is what an observer saw in the meta hash over time.
type metaLog struct {
	mu        sync.Mutex // guards all below
	tokenOf   map[int64]string
	firstSeen []metaSeen // each ticket's first observation, in order
	maxTicket int64
	rollbacks int // observations of a lower ticket than the previous one
	last      int64
	errors    int
}

type metaSeen struct {
	ticket int64
	at     time.Time
}

// observe polls the meta hash through its own client until ctx ends.
func (f *fleet) observe() {
	rdb := f.client()
	keys, _ := store.NewKeys("")
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for f.ctx.Err() == nil {
			ctx, cancel := context.WithTimeout(f.ctx, redisTimeout)
			m, err := rdb.HMGet(ctx, keys.Meta(app), "ticket", "token").Result()
			cancel()
			f.meta.add(m, err)
			time.Sleep(observeEvery)
		}
	}()
}

func (l *metaLog) add(m []any, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tokenOf == nil {
		l.tokenOf = map[int64]string{}
	}
	if err != nil || len(m) != 2 || m[0] == nil {
		l.errors++
		return
	}
	var n int64
	_, _ = fmt.Sscan(m[0].(string), &n)
	tok, _ := m[1].(string)
	if prev, ok := l.tokenOf[n]; ok {
		if prev != tok {
			l.tokenOf[n] = "<CONFLICT>"
		}
	} else {
		l.tokenOf[n] = tok
		l.firstSeen = append(l.firstSeen, metaSeen{ticket: n, at: time.Now()})
	}
	if n < l.last {
		l.rollbacks++
	}
	l.last = n
	l.maxTicket = max(l.maxTicket, n)
}

// check verifies that each ticket names one token and that every ticket,
// when first seen, was greater than all tickets seen before it.
func (l *metaLog) check(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var hi int64
	for _, s := range l.firstSeen {
		if s.ticket <= hi {
			t.Errorf("meta ticket %d first seen after ticket %d: tickets repeated or went back", s.ticket, hi)
		}
		hi = max(hi, s.ticket)
		if l.tokenOf[s.ticket] == "<CONFLICT>" {
			t.Errorf("ticket %d named two different tokens", s.ticket)
		}
	}
}

func (l *metaLog) snapshot() (maxTicket int64, distinct int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxTicket, len(l.firstSeen)
}

// firstAbove returns when a ticket above n was first seen.
func (l *metaLog) firstAbove(n int64) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.firstSeen {
		if s.ticket > n {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// shortestGap returns the shortest time between two consecutive new tickets.
func (l *metaLog) shortestGap() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	gap := time.Duration(1 << 62)
	for i := 1; i < len(l.firstSeen); i++ {
		gap = min(gap, l.firstSeen[i].at.Sub(l.firstSeen[i-1].at))
	}
	return gap
}

// readLog counts reads by kind and outcome.
type readLog struct {
	mu     sync.Mutex // guards all
	ok     map[string]int
	errs   map[string]int
	dead   map[string][]time.Time
	lastOK map[string]time.Time
}

func (l *readLog) add(kind string, code int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ok == nil {
		l.ok, l.errs, l.dead, l.lastOK = map[string]int{}, map[string]int{}, map[string][]time.Time{}, map[string]time.Time{}
	}
	switch {
	case err != nil:
		l.errs[kind]++
	case code != wechattest.CodeOK:
		l.dead[kind] = append(l.dead[kind], time.Now())
	default:
		l.ok[kind]++
		l.lastOK[kind] = time.Now()
	}
}

// deadAfter counts dead reads after t, and all dead reads.
func (l *readLog) deadAfter(t time.Time) (after, all int, last time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ds := range l.dead {
		for _, d := range ds {
			all++
			if d.After(t) {
				after++
			}
			if d.After(last) {
				last = d
			}
		}
	}
	return after, all, last
}

func (l *readLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := ""
	for _, k := range []string{"get", "reader"} {
		s += fmt.Sprintf(" %s: ok=%d dead=%d errors=%d;", k, l.ok[k], len(l.dead[k]), l.errs[k])
	}
	return s
}

// startReaders starts business apps: one that GETs the key and reports a
// rejected token with store.Report, one that uses reader.Reader and
// ReportInvalid. Each checks every token it is handed with the fake.
func (f *fleet) startReaders() {
	getRDB := f.client()
	st, err := store.New(store.Config{Client: getRDB})
	if err != nil {
		f.t.Fatal(err)
	}
	rr, err := reader.New(f.client(), reader.Config{
		RefreshBefore: time.Second, ResyncInterval: time.Second, PingInterval: 500 * time.Millisecond,
		Logger: testLogger(f.t),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.wg.Add(2)
	go func() {
		defer f.wg.Done()
		reported := ""
		for f.ctx.Err() == nil {
			ctx, cancel := context.WithTimeout(f.ctx, redisTimeout)
			tok, err := getRDB.Get(ctx, st.Keys().Token(app)).Result()
			code := 0
			if err == nil {
				if code = f.fake.Check(tok); code != wechattest.CodeOK && tok != reported {
					if st.Report(ctx, app, tok) == nil {
						reported = tok
					}
				}
			}
			cancel()
			if !errors.Is(err, context.Canceled) {
				f.reads.add("get", code, err)
			}
			time.Sleep(readInterval)
		}
	}()
	go func() {
		defer f.wg.Done()
		defer rr.Close()
		for f.ctx.Err() == nil {
			ctx, cancel := context.WithTimeout(f.ctx, redisTimeout)
			tok, err := rr.Token(ctx, app)
			code := 0
			if err == nil {
				if code = f.fake.Check(tok.Value); code != wechattest.CodeOK {
					_ = rr.ReportInvalid(ctx, app, tok.Value)
				}
			}
			cancel()
			if !errors.Is(err, context.Canceled) {
				f.reads.add("reader", code, err)
			}
			time.Sleep(readInterval)
		}
	}()
}

// waitFirstToken waits until the observer saw a token.
func (f *fleet) waitFirstToken(timeout time.Duration) {
	f.t.Helper()
	wait.For(f.t, timeout, "a first token", func() bool {
		_, n := f.meta.snapshot()
		return n > 0
	})
}

// finish stops the fleet and checks the invariants every scenario shares:
// tickets never repeat and grow, each meta ticket names one token, and
// exactly one replica led at the end.
func (f *fleet) finish() {
	f.t.Helper()
	wait.For(f.t, 2*leaseTTL, "exactly one leader", func() bool { return len(f.leaders()) == 1 })
	f.stop()
	taken := f.tickets.check(f.t)
	f.meta.check(f.t)
	hi, distinct := f.meta.snapshot()
	f.t.Logf("tickets taken: %d (all distinct, increasing with time); meta: %d distinct tickets, max %d, %d rollbacks observed, %d failed observations",
		taken, distinct, hi, f.meta.rollbacks, f.meta.errors)
	a := f.fake.Audit()
	f.t.Logf("upstream: %d fetches; reads:%s", a.Fetches[appID+"/token"], f.reads)
}
