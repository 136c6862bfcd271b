// Package wechattest runs a faithful fake of WeChat's access-token API for
// tests, like net/http/httptest does for HTTP servers.
//
// It reproduces what matters to a central token server:
//
//   - classic GET /cgi-bin/token: a new token per call; the previous latest
//     keeps working for Config.Overlap after being superseded, then answers
//     40001; every token answers 42001 past its expiry;
//   - stable POST /cgi-bin/stable_token: the same token while it is valid,
//     a new one for a normal call in its last Overlap (old and new both
//     valid until the old expires), force_refresh with the daily and
//     interval limits; classic and stable tokens never affect each other;
//   - quotas (daily 45009, optional per-minute 45011) and
//     POST /cgi-bin/clear_quota/v2 (10 a month, then 48006);
//   - a protected call, GET /cgi-bin/getcallbackip, that checks tokens
//     (40001, 40014, 42001, 41001), and GET /cgi-bin/ticket/getticket;
//   - fault injection (any errcode, with a probability, 5xx, delays, raw
//     bodies such as HTML, malformed or oversized JSON);
//   - out-of-band rotation ("someone else fetched") and an audit of
//     fetches and of protected calls by token state, also over HTTP
//     (POST /rotate, GET /audit) for tests in other processes.
//
// Time comes from Config.Clock, so a k8s.io/utils/clock/testing FakeClock
// drives expiry, overlap, quota days and force limits. Only fault delays use
// real time, because they exist to trip real client timeouts.
//
// Errors have WeChat's envelope: HTTP 200, Content-Type
// "application/json; encoding=utf-8", {"errcode":N,"errmsg":"... rid: ..."}.
//
// Not reproduced: IP whitelists and risk control (inject 40164 or 895xx
// with a Fault instead), the stable endpoint's separate 10,000/minute and
// 500,000/day quotas (the same DailyQuota and MinuteQuota apply to each
// endpoint family), and any API beyond the ones above.
package wechattest

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Config configures a fake server. The zero value of each field means its
// default.
type Config struct {
	// Lifetime of tokens and tickets; the classic expires_in. Default 7200 s.
	// Use whole seconds: expires_in is reported in seconds, rounded down.
	Lifetime time.Duration
	// Overlap is how long a superseded classic token keeps working, and the
	// window at the end of a stable token's life in which a normal call
	// rotates it. Default 5 minutes.
	Overlap time.Duration
	// DailyQuota is the number of successful calls per appid per endpoint
	// family (classic, stable) per day before 45009. Default 2000; negative
	// means unlimited.
	DailyQuota int
	// MinuteQuota is the number of calls per appid per endpoint family per
	// clock minute before 45011. Default 0: no limit.
	MinuteQuota int
	// ForceDailyLimit is the number of stable force refreshes per appid per
	// day; the next one gets 45009. Default 20.
	ForceDailyLimit int
	// ForceInterval is the shortest time between two force refreshes of an
	// appid. Default 30 s.
	ForceInterval time.Duration
	// ForceTooSoonErrcode is the answer to a force refresh inside
	// ForceInterval. Default 0: the current token, not rotated (WeChat's
	// exact behaviour is undocumented).
	ForceTooSoonErrcode int
	// ClearQuotaMonthly is the number of clear_quota calls per appid per
	// month before 48006. Default 10.
	ClearQuotaMonthly int
	// Location is the time zone in which days (quotas, force limits) and
	// months (clear_quota) start. Default UTC+8, China Standard Time.
	Location *time.Location
	// Clock tells the time. Default: the real clock.
	Clock clock.PassiveClock
	// Seed seeds the random source that decides Fault.Probability. Default
	// 0: a random seed.
	Seed uint64
}

func (cfg Config) withDefaults() Config {
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = 7200 * time.Second
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = 5 * time.Minute
	}
	if cfg.DailyQuota == 0 {
		cfg.DailyQuota = 2000
	}
	if cfg.ForceDailyLimit <= 0 {
		cfg.ForceDailyLimit = 20
	}
	if cfg.ForceInterval <= 0 {
		cfg.ForceInterval = 30 * time.Second
	}
	if cfg.ClearQuotaMonthly <= 0 {
		cfg.ClearQuotaMonthly = 10
	}
	if cfg.Location == nil {
		cfg.Location = time.FixedZone("UTC+8", 8*60*60)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		cfg.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	return cfg
}

// Server is a fake WeChat API server. All methods are safe for concurrent
// use; one mutex guards all state, and no I/O happens while it is held.
type Server struct {
	// URL is the base URL of a server started by NewServer, of the form
	// http://127.0.0.1:port with no trailing slash; empty for New.
	URL string

	cfg       Config
	handler   http.Handler
	hs        *httptest.Server
	done      chan struct{} // closed by Close: ends fault delays
	closeOnce sync.Once

	mu     sync.Mutex // guards everything below
	rng    *rand.Rand
	apps   map[string]*app
	tokens map[string]*token // every token issued and not yet pruned
	fault  *Fault            // active fault, nil if none
	audit  Audit
	issued int // tokens issued, for pruning
}

// New returns a server that is not listening; serve its Handler yourself.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:    cfg,
		done:   make(chan struct{}),
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed>>1^0x9e3779b97f4a7c15)),
		apps:   make(map[string]*app),
		tokens: make(map[string]*token),
		audit:  newAudit(),
	}
	s.handler = s.routes()
	return s
}

// NewServer starts a server on 127.0.0.1 on a free port, like
// httptest.NewServer. The caller must call Close.
func NewServer(cfg Config) *Server {
	s := New(cfg)
	s.hs = httptest.NewServer(s.handler)
	s.URL = s.hs.URL
	return s
}

// Handler returns the HTTP handler of the fake API.
func (s *Server) Handler() http.Handler { return s.handler }

// Close ends pending fault delays and, for a server started by NewServer,
// shuts it down and waits for outstanding requests.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
	if s.hs != nil {
		s.hs.Close()
	}
}

// AddApp registers an account, or changes its secret if it exists.
func (s *Server) AddApp(appid, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.apps[appid]; ok {
		a.secret = secret
		return
	}
	s.apps[appid] = newApp(appid, secret)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cgi-bin/token", s.handleToken)
	mux.HandleFunc("POST /cgi-bin/stable_token", s.handleStableToken)
	mux.HandleFunc("POST /cgi-bin/clear_quota/v2", s.handleClearQuota)
	mux.HandleFunc("GET /cgi-bin/getcallbackip", s.handleCallbackIP)
	mux.HandleFunc("GET /cgi-bin/ticket/getticket", s.handleTicket)
	mux.HandleFunc("GET /audit", s.handleAudit)
	mux.HandleFunc("POST /rotate", s.handleRotate)
	return mux
}

func (s *Server) now() time.Time { return s.cfg.Clock.Now() }

// day and month name the calendar periods quotas count in.
func (s *Server) day(t time.Time) string   { return t.In(s.cfg.Location).Format(time.DateOnly) }
func (s *Server) month(t time.Time) string { return t.In(s.cfg.Location).Format("2006-01") }
