// Package wechattest runs a faithful fake of the token APIs of WeChat,
// WeCom, Feishu and DingTalk for tests, like net/http/httptest does for
// HTTP servers. One server serves every platform on its own paths, so a
// test or dev mode can point every app at one base URL; state is kept per
// platform and app, and a token of one platform is never accepted on
// another platform's paths.
//
// It reproduces what matters to a central token server:
//
//   - WeChat classic GET /cgi-bin/token: a new token per call; the previous
//     latest keeps working for Config.Overlap after being superseded, then
//     answers 40001; every token answers 42001 past its expiry;
//   - WeChat stable POST /cgi-bin/stable_token: the same token while it is
//     valid, a new one for a normal call in its last Overlap (old and new
//     both valid until the old expires), force_refresh with the daily and
//     interval limits; classic and stable tokens never affect each other;
//   - quotas (daily 45009, optional per-minute 45011) and
//     POST /cgi-bin/clear_quota/v2 (10 a month, then 48006);
//   - JS-SDK tickets (WeChat jsapi and wx_card, WeCom corp jsapi and app
//     agent_config, DingTalk jsapi): the same ticket until it expires,
//     whichever valid token asks, then a new one (no overlap); a repeat's
//     expires_in is the full lifetime unless
//     Config.TicketRemainingExpiresIn; WeCom's hourly limits (45009);
//   - WeCom GET /cgi-bin/gettoken (one token per app, the same while
//     valid), Feishu POST /open-apis/auth/v3/tenant_access_token/internal
//     (the same token until its last Config.FeishuRotateWindow, then a new
//     one, both valid) and DingTalk GET /gettoken (the same token, its life
//     extended by a repeat), each with its platform's envelope and errors;
//   - protected calls that check tokens: WeChat getcallbackip, WeCom
//     get_api_domain_ip, Feishu event/v1/outbound_ip, DingTalk
//     topapi/user/count (cheap probes), and every ticket endpoint;
//   - fault injection per endpoint (any errcode in the endpoint's own
//     envelope, with a probability, 5xx, delays, raw bodies such as HTML,
//     malformed or oversized JSON);
//   - out-of-band rotation of tokens and tickets ("someone else fetched",
//     "the platform invalidated it early"), Check, CheckToken and
//     CheckTicket, and an audit of fetches per app and endpoint and of
//     protected calls by token state; all also over HTTP (internal/hooks)
//     for tests in other processes;
//   - the Open Platform: verify-ticket pushes, component tokens,
//     authorization events and authorizer tokens (component.go,
//     authorizers.go), and pass-through business APIs for proxy mode.
//
// Time comes from Config.Clock, so a k8s.io/utils/clock/testing FakeClock
// drives expiry, overlap, rotation windows, quota days and hours and force
// limits. Only fault delays use real time, because they exist to trip real
// client timeouts.
//
// WeChat errors have WeChat's envelope: HTTP 200, Content-Type
// "application/json; encoding=utf-8", {"errcode":N,"errmsg":"... rid: ..."}.
// WeCom's errmsg carries a hint instead of a rid; Feishu answers
// {"code":N,"msg":"..."}; DingTalk {"errcode":N,"errmsg":"..."}.
//
// Not reproduced: IP whitelists and risk control (inject 40164 or 895xx
// with a Fault instead), the stable endpoint's separate 10,000/minute and
// 500,000/day quotas (the same DailyQuota and MinuteQuota apply to each
// WeChat endpoint family), quotas of the WeCom, Feishu and DingTalk token
// endpoints, WeChat ticket quotas, Feishu app_access_token, WeCom ISV
// suites, and any API beyond the ones above.
//
// Layout: this package holds the API (Server, Config and the exported
// types) and the glue that runs under the Server's one mutex. The books
// (tokens, tickets, quotas, apps and the audit, on Config.Clock) are in
// internal/ledger; the token endpoints in internal/platforms; each
// platform's envelope in internal/envelope; faults in internal/fault; the
// Open Platform's components, pushes and authorizers in internal/openplat;
// the pass-through APIs in internal/passthrough; the test hooks in
// internal/hooks.
package wechattest

import (
	crand "crypto/rand"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/fault"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/openplat"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/platforms"
	"k8s.io/utils/clock"
)

// Config configures a fake server. The zero value of each field means its
// default.
type Config struct {
	// Lifetime of tokens of every platform; the classic expires_in.
	// Default 7200 s.
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

	// TicketLifetime is the life of JS-SDK tickets, every platform.
	// Default: Lifetime.
	TicketLifetime time.Duration
	// TicketRemainingExpiresIn makes every ticket answer report the
	// ticket's true remaining life. Default false: every answer, repeats
	// included, reports the full TicketLifetime, as WeChat does (community
	// report), so a client must keep the first-seen expiry.
	TicketRemainingExpiresIn bool
	// WeComRepeat is what a WeCom gettoken repeat does to the token's
	// life. Default RenewKeep: expires_in is the remaining life.
	WeComRepeat Renewal
	// WeComAppTicketHourly is the number of ticket calls per WeCom app per
	// kind in any 60 minutes before 45009. Default 100; negative: no limit.
	WeComAppTicketHourly int
	// WeComCorpTicketHourly is the number of ticket calls per WeCom corp
	// (all its apps) per kind in any 60 minutes before 45009. Default 400;
	// negative: no limit.
	WeComCorpTicketHourly int
	// WeComInvalidatedErrcode is the answer to a WeCom token invalidated
	// early (RotateWeCom). Default 42001.
	WeComInvalidatedErrcode int
	// FeishuRotateWindow: a tenant_access_token call with less than this
	// left of the current token gets a new one. Default 30 minutes, or a
	// quarter of Lifetime when Lifetime is 30 minutes or less.
	FeishuRotateWindow time.Duration
	// FeishuAuthErrorStatus is the HTTP status of a Feishu answer refusing
	// a token. Default 400.
	FeishuAuthErrorStatus int
	// DingTalkRepeat is what a DingTalk gettoken repeat does to the
	// token's life. Default RenewExtend: a full Lifetime again.
	DingTalkRepeat Renewal
}

// Renewal is what a repeat call of a token endpoint that returns the same
// token while it is valid does to that token's life.
type Renewal int

const (
	// RenewDefault is the platform's documented behaviour (see Config).
	RenewDefault Renewal = iota
	// RenewKeep keeps the token's expiry: expires_in shrinks.
	RenewKeep
	// RenewExtend extends the token's life to a full Lifetime.
	RenewExtend
)

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
	cfg.withPlatformDefaults()
	if cfg.Seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		cfg.Seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	return cfg
}

func (cfg *Config) withPlatformDefaults() {
	if cfg.TicketLifetime <= 0 {
		cfg.TicketLifetime = cfg.Lifetime
	}
	if cfg.WeComRepeat == RenewDefault {
		cfg.WeComRepeat = RenewKeep
	}
	if cfg.WeComAppTicketHourly == 0 {
		cfg.WeComAppTicketHourly = 100
	}
	if cfg.WeComCorpTicketHourly == 0 {
		cfg.WeComCorpTicketHourly = 400
	}
	if cfg.WeComInvalidatedErrcode == 0 {
		cfg.WeComInvalidatedErrcode = CodeExpired
	}
	if cfg.FeishuRotateWindow <= 0 {
		cfg.FeishuRotateWindow = 30 * time.Minute
		if cfg.Lifetime <= cfg.FeishuRotateWindow {
			cfg.FeishuRotateWindow = cfg.Lifetime / 4
		}
	}
	if cfg.FeishuAuthErrorStatus == 0 {
		cfg.FeishuAuthErrorStatus = http.StatusBadRequest
	}
	if cfg.DingTalkRepeat == RenewDefault {
		cfg.DingTalkRepeat = RenewExtend
	}
}

// Server is a fake of the token APIs of WeChat, WeCom, Feishu and
// DingTalk. All methods are safe for concurrent use; one mutex guards all
// state, and no I/O happens while it is held.
type Server struct {
	// URL is the base URL of a server started by NewServer, of the form
	// http://127.0.0.1:port with no trailing slash; empty for New.
	URL string

	cfg       Config
	platforms map[string]*platform // by name; read-only after New
	endpoints map[string]endpoint  // by endpoint name; read-only after New
	handler   http.Handler
	hs        *httptest.Server
	done      chan struct{} // closed by Close: ends fault delays
	closeOnce sync.Once

	mu     sync.Mutex         // guards everything below, and all they point to
	books  *ledger.Ledger     // every token and ticket issued
	faults *fault.Injector    // the active fault
	open   *openplat.Registry // Open Platform components and authorizers
	audit  *Audit             // the ledger's
}

// New returns a server that is not listening; serve its Handler yourself.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:       cfg,
		platforms: newPlatforms(cfg),
		done:      make(chan struct{}),
	}
	s.books = ledger.New(ledger.Config{
		Lifetime: cfg.Lifetime, Overlap: cfg.Overlap, DailyQuota: cfg.DailyQuota, MinuteQuota: cfg.MinuteQuota,
		ForceDailyLimit: cfg.ForceDailyLimit, ForceInterval: cfg.ForceInterval,
		ForceTooSoonErrcode: cfg.ForceTooSoonErrcode, ClearQuotaMonthly: cfg.ClearQuotaMonthly,
		TicketLifetime: cfg.TicketLifetime, TicketRemainingExpiresIn: cfg.TicketRemainingExpiresIn,
		Location: cfg.Location, Clock: cfg.Clock,
	})
	s.audit = s.books.Audit()
	s.faults = fault.New(&s.mu, cfg.Seed, s.done, func() { s.audit.Faults++ })
	s.open = openplat.New(&s.mu, s.now, s.closingContext)
	s.endpoints = newEndpoints(s.platforms)
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

// AddApp registers a WeChat account, or changes its secret if it exists.
func (s *Server) AddApp(appid, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.books.AddApp(appid, secret)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	platforms.Routes(mux, &s.mu, s.books, s.platforms, platformHost{s}, platforms.Config{
		WeComExtend: s.cfg.WeComRepeat == RenewExtend, DingTalkExtend: s.cfg.DingTalkRepeat != RenewKeep,
		FeishuRotateWindow: s.cfg.FeishuRotateWindow,
	})
	s.componentRoutes(mux)
	s.hookRoutes(mux)
	s.passthroughRoutes(mux)
	return s.countRequests(mux)
}

func (s *Server) now() time.Time { return s.books.Now() }
