package refresher_test

// Helpers of the end-to-end tests in upstream_test.go.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/lock"
	"github.com/tokend/tokend/refresher"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/refresher/wechat"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
)

const (
	upAppID  = "wx0123456789abcdef"
	upSecret = "upstream-test-secret-0123456789"
	upApp    = "mp-main" // tokend's app id
)

var upQuiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newUpstream starts the fake WeChat server with one account.
func newUpstream(t *testing.T, cfg wechattest.Config) *wechattest.Server {
	t.Helper()
	wx := wechattest.NewServer(cfg)
	t.Cleanup(wx.Close)
	wx.AddApp(upAppID, upSecret)
	return wx
}

// newHTTPClient returns a client on its own transport, whose idle
// connections are closed when the test ends. wrap, if set, wraps the
// transport.
func newHTTPClient(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) *http.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	var rt http.RoundTripper = tr
	if wrap != nil {
		rt = wrap(tr)
	}
	return &http.Client{
		Transport: rt,
		Timeout:   2 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func providerConfig(wx *wechattest.Server, hc *http.Client, minExpiresIn time.Duration) wechat.Config {
	return wechat.Config{
		AppID: upAppID, Secret: upSecret, BaseURL: wx.URL, HTTPClient: hc, MinExpiresIn: minExpiresIn,
	}
}

func newClassic(t *testing.T, wx *wechattest.Server, hc *http.Client, minExpiresIn time.Duration) *wechat.Classic {
	t.Helper()
	p, err := wechat.NewClassic(providerConfig(wx, hc, minExpiresIn))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newUpStore(t *testing.T, rdb *redis.Client, prefix string) *store.Store {
	t.Helper()
	s, err := store.New(store.Config{Client: rdb, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// leaseElector writes a lease value into Redis and leads with it at once,
// so tickets are granted without a real election.
type leaseElector struct {
	rdb        *redis.Client
	key, value string
}

func (e leaseElector) Run(ctx context.Context, lead lock.LeadFunc) error {
	if err := e.rdb.Set(ctx, e.key, e.value, time.Hour).Err(); err != nil {
		return err
	}
	lead(ctx, lock.Term{Value: e.value, Epoch: 1, ID: e.value})
	return nil
}

// upConfig has the short timings of refresher_test.go.
func upConfig(s *store.Store, e refresher.Elector, app refresher.App) refresher.Config {
	return refresher.Config{
		Store: s, Elector: e, Apps: []refresher.App{app},
		Cooldown: 50 * time.Millisecond, RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		ConfigRetry: time.Hour, ReportPoll: 200 * time.Millisecond, Logger: upQuiet,
	}
}

// runRefresher runs r until stop is called or the test ends.
func runRefresher(t *testing.T, r *refresher.Refresher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("refresher: Run: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// leader is one refresher leading by a fixed lease, on store s.
type leader struct {
	r   *refresher.Refresher
	s   *store.Store
	rdb *redis.Client
}

func startLeader(t *testing.T, rdb *redis.Client, prefix string, p upstream.Provider, kind string) leader {
	t.Helper()
	s := newUpStore(t, rdb, prefix)
	r, err := refresher.New(upConfig(s, leaseElector{rdb: rdb, key: s.Keys().Lease(), value: "L"},
		refresher.App{ID: upApp, Provider: p, Kind: kind}))
	if err != nil {
		t.Fatal(err)
	}
	runRefresher(t, r)
	return leader{r: r, s: s, rdb: rdb}
}

// stored returns the token in Redis ("" when there is none).
func (l leader) stored(t *testing.T) string {
	t.Helper()
	return storedToken(t, l.rdb, l.s)
}

func (l leader) state() refresher.AppState { return l.r.States()[0] }

func (l leader) status(t *testing.T) store.Status {
	t.Helper()
	st, err := l.s.Status(context.Background(), upApp)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (l leader) pending(t *testing.T) int {
	t.Helper()
	p, err := l.s.PendingReports(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(p)
}

func (l leader) report(t *testing.T, tok string) {
	t.Helper()
	if err := l.s.Report(context.Background(), upApp, tok); err != nil {
		t.Fatal(err)
	}
}

func storedToken(t *testing.T, rdb *redis.Client, s *store.Store) string {
	t.Helper()
	v, err := rdb.Get(context.Background(), s.Keys().Token(upApp)).Result()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	return v
}

// fetchCount is the number of successful answers of endpoint for the app.
func fetchCount(wx *wechattest.Server, endpoint string) int {
	return wx.Audit().Fetches[upAppID+"/"+endpoint]
}

// protectedCall calls the fake's getcallbackip with tok, as a business app
// would, and returns the errcode (0 for success).
func protectedCall(hc *http.Client, wx *wechattest.Server, tok string) (int, error) {
	resp, err := hc.Get(wx.URL + "/cgi-bin/getcallbackip?access_token=" + url.QueryEscape(tok))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var ans struct {
		ErrCode int `json:"errcode"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return 0, err
	}
	return ans.ErrCode, nil
}

// fetchLog records when token requests were sent.
type fetchLog struct {
	mu   sync.Mutex // guards sent
	sent []time.Time
}

func (l *fetchLog) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.URL.Path == "/cgi-bin/token" || req.URL.Path == "/cgi-bin/stable_token" {
			l.mu.Lock()
			l.sent = append(l.sent, time.Now())
			l.mu.Unlock()
		}
		return next.RoundTrip(req)
	})
}

func (l *fetchLog) times() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sent)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
