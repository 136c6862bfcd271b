package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/reader"
)

// CheckerConfig configures a Checker. Zero fields take the defaults named.
type CheckerConfig struct {
	// Server is the fake upstream; tokens are checked against it. Required.
	Server *wechattest.Server
	// Redis is the client of the plain readers (GET of the token key) and
	// of their reports. Required.
	Redis redis.UniversalClient
	// ReaderRedis is the client of the reader.Reader; default Redis.
	ReaderRedis redis.UniversalClient
	// Prefix is the deployment's key prefix. Default "tokend".
	Prefix string
	// App is the credential id read (an app id, or "<app>:<kind>" for a
	// ticket). Required.
	App string
	// AppID is the upstream appid of a WeChat token. Required with
	// CheckWeChatAPI; unused otherwise.
	AppID string
	// Check says how a value read is judged. Default CheckWeChatAPI.
	Check CheckMode
	// Owner and Kind, when set, are what the fake must say of a value
	// (wechattest.Status App and Kind) with CheckToken and CheckTicket: a
	// live value of another app or kind is counted as dead (40014).
	Owner, Kind string
	// GetReaders read the key with GET and judge the value. Default 3; -1
	// for none.
	GetReaders int
	// LibReaders read through one reader.Reader and use the value: with
	// CheckWeChatAPI they call the fake's protected API (GET
	// /cgi-bin/getcallbackip) over HTTP, otherwise they judge it like the
	// plain readers. Default 2; -1 for none.
	LibReaders int
	// Interval between two reads of one reader. Default 5ms.
	Interval time.Duration
	// Report: a reader handed a dead token reports it (plain readers with
	// store.Store.Report, library readers with Reader.ReportInvalid), once
	// per distinct token, as a real app would.
	Report bool
	// ReaderConfig for the reader.Reader (Prefix is filled in). Default
	// RefreshBefore 1s, ResyncInterval 2s, PingInterval 1s. RefreshBefore
	// is also how late the Reader's timer may fire before its lock-free
	// path serves a token past its expiry: 200ms was overrun on a 2-core
	// machine beside a CPU hog (dead tokens handed out by the library).
	ReaderConfig reader.Config
}

// PathStats are the figures of one kind of reader.
type PathStats struct {
	Reads  int64 // a value was returned
	Empty  int64 // no value (key absent, ErrNoToken)
	Errors int64 // Redis or HTTP errors
	// Dead counts values the upstream rejected (40001, 40014, 42001).
	Dead       int64
	DeadByCode map[int]int64
	Reports    int64
	FirstDead  time.Time
	LastDead   time.Time
	// Late counts values the protected API refused as expired although
	// they lived when the read began (CheckWeChatAPI library readers): the
	// reader's own delay between reading and using, not a dead value.
	Late int64
	// MaxGap is the longest time one reader went without a valid value.
	MaxGap time.Duration
	// MaxStall is the longest a reader started its next read later than
	// its Interval asked (its own scheduling and read latency): a gap
	// measured while readers stall is longer than the credential's by
	// up to that much, so bounds on gaps add it.
	MaxStall time.Duration
}

// Stats are a Checker's figures so far.
type Stats struct {
	Get, Lib PathStats
	// Tokens is the number of distinct values handed to readers.
	Tokens int
	// Rollovers are the changes of the valid value readers saw, oldest
	// first (see Rollover).
	Rollovers []Rollover
}

// DeadTotal is the number of dead values handed to any reader.
func (s Stats) DeadTotal() int64 { return s.Get.Dead + s.Lib.Dead }

// MaxGap is the longest time any reader went without a valid value.
func (s Stats) MaxGap() time.Duration { return max(s.Get.MaxGap, s.Lib.MaxGap) }

// MaxStall is the longest any reader was late for its next read.
func (s Stats) MaxStall() time.Duration { return max(s.Get.MaxStall, s.Lib.MaxStall) }

// String summarises the figures for t.Logf.
func (s Stats) String() string {
	return fmt.Sprintf("reads get=%d lib=%d, dead get=%d %v lib=%d %v, empty get=%d lib=%d, errors get=%d lib=%d, reports=%d, late lib=%d, max gap get=%s lib=%s, max stall %s, distinct tokens=%d, rollovers=%d",
		s.Get.Reads, s.Lib.Reads, s.Get.Dead, s.Get.DeadByCode, s.Lib.Dead, s.Lib.DeadByCode,
		s.Get.Empty, s.Lib.Empty, s.Get.Errors, s.Lib.Errors, s.Get.Reports+s.Lib.Reports, s.Lib.Late,
		s.Get.MaxGap.Round(time.Millisecond), s.Lib.MaxGap.Round(time.Millisecond), s.MaxStall().Round(time.Millisecond),
		s.Tokens, len(s.Rollovers))
}

// Checker is the invariant checker: reader goroutines that keep reading a
// credential and judge or use each value with the fake upstream, counting
// what they were handed. Safe for concurrent use.
type Checker struct {
	cfg    CheckerConfig
	st     *store.Store
	reader *reader.Reader
	key    string
	http   *http.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex // guards stats, tokens and rolls
	stats  Stats
	tokens map[string]bool
	rolls  rollovers
}

// StartChecker starts the readers (NewChecker); they stop at Stop or when
// the test ends. A bad config fails tb.
func StartChecker(tb testing.TB, cfg CheckerConfig) *Checker {
	tb.Helper()
	if cfg.ReaderConfig.Logger == nil {
		cfg.ReaderConfig.Logger = slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	c, err := NewChecker(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Stop() })
	return c
}

// NewChecker starts the readers of cfg; the caller must call Stop. It is
// StartChecker for programs (cmd/tokenbench); the reader.Reader logs
// nowhere unless cfg.ReaderConfig.Logger is set.
func NewChecker(cfg CheckerConfig) (*Checker, error) {
	if cfg.Server == nil || cfg.Redis == nil || cfg.App == "" || cfg.Check == CheckWeChatAPI && cfg.AppID == "" {
		return nil, errors.New("harness: CheckerConfig needs Server, Redis, App, and AppID with CheckWeChatAPI")
	}
	if cfg.ReaderRedis == nil {
		cfg.ReaderRedis = cfg.Redis
	}
	if cfg.GetReaders == 0 {
		cfg.GetReaders = 3
	}
	if cfg.LibReaders == 0 {
		cfg.LibReaders = 2
	}
	if cfg.Interval == 0 {
		cfg.Interval = 5 * time.Millisecond
	}
	ro := cfg.ReaderConfig
	ro.Prefix = cfg.Prefix
	if ro.RefreshBefore == 0 {
		ro.RefreshBefore = time.Second
	}
	if ro.ResyncInterval == 0 {
		ro.ResyncInterval = 2 * time.Second
	}
	if ro.Logger == nil {
		ro.Logger = slog.New(slog.DiscardHandler)
	}
	if ro.PingInterval == 0 {
		ro.PingInterval = time.Second
	}
	st, err := store.New(store.Config{Client: cfg.Redis, Prefix: cfg.Prefix})
	if err != nil {
		return nil, fmt.Errorf("harness: checker: %w", err)
	}
	c := &Checker{
		cfg: cfg, st: st, key: st.Keys().Token(cfg.App),
		http:   &http.Client{Timeout: time.Second},
		tokens: map[string]bool{},
	}
	c.stats.Get.DeadByCode, c.stats.Lib.DeadByCode = map[int]int64{}, map[int]int64{}
	if cfg.LibReaders > 0 {
		if c.reader, err = reader.New(cfg.ReaderRedis, ro); err != nil {
			return nil, fmt.Errorf("harness: checker: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for range max(cfg.GetReaders, 0) {
		c.wg.Go(func() { c.run(ctx, false) })
	}
	for range max(cfg.LibReaders, 0) {
		c.wg.Go(func() { c.run(ctx, true) })
	}
	return c, nil
}

// Stop stops the readers (idempotent) and returns the final figures.
func (c *Checker) Stop() Stats {
	c.cancel()
	c.wg.Wait()
	if c.reader != nil {
		_ = c.reader.Close()
	}
	return c.Stats()
}

// Stats returns a copy of the figures so far.
func (c *Checker) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Get.DeadByCode = maps.Clone(s.Get.DeadByCode)
	s.Lib.DeadByCode = maps.Clone(s.Lib.DeadByCode)
	s.Tokens = len(c.tokens)
	s.Rollovers = c.rolls.list()
	return s
}

// readResult is the outcome of one read.
type readResult int

const (
	readOK readResult = iota
	readEmpty
	readError
	readDead
	// readLate: the API refused as expired a value that lived when the
	// read began (the reader stalled between reading and using it).
	readLate
)

func (c *Checker) run(ctx context.Context, lib bool) {
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	lastOK := time.Now()
	lastStart := lastOK
	last, reported := "", ""
	for {
		select {
		case <-ctx.Done():
			c.gap(lib, time.Since(lastOK))
			return
		case <-tick.C:
		}
		started := time.Now()
		c.stall(lib, started.Sub(lastStart)-c.cfg.Interval)
		lastStart = started
		tok, res, code := c.readOnce(ctx, lib)
		if ctx.Err() != nil {
			continue
		}
		now := time.Now()
		c.count(lib, tok, res, code, now)
		if res == readOK {
			c.gap(lib, now.Sub(lastOK))
			if last != "" && tok != last {
				c.mu.Lock()
				c.rolls.note(tok, now, now.Sub(lastOK))
				c.mu.Unlock()
			}
			last, lastOK = tok, now
		}
		if res == readDead && c.cfg.Report && tok != reported {
			reported = tok
			c.report(ctx, lib, tok)
		}
	}
}

// count adds one read's outcome to the figures.
func (c *Checker) count(lib bool, tok string, res readResult, code int, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.path(lib)
	switch res {
	case readOK:
		ps.Reads++
		c.tokens[tok] = true
	case readEmpty:
		ps.Empty++
	case readError:
		ps.Errors++
	case readLate:
		ps.Reads++
		ps.Late++
		c.tokens[tok] = true
	case readDead:
		ps.Reads++
		ps.Dead++
		ps.DeadByCode[code]++
		if ps.FirstDead.IsZero() {
			ps.FirstDead = now
		}
		ps.LastDead = now
		c.tokens[tok] = true
	}
}

// path is the figures of one kind of reader; c.mu must be held.
func (c *Checker) path(lib bool) *PathStats {
	if lib {
		return &c.stats.Lib
	}
	return &c.stats.Get
}

func (c *Checker) gap(lib bool, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.path(lib)
	ps.MaxGap = max(ps.MaxGap, d)
}

func (c *Checker) stall(lib bool, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.path(lib)
	ps.MaxStall = max(ps.MaxStall, d)
}

func (c *Checker) report(ctx context.Context, lib bool, tok string) {
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var err error
	if lib {
		err = c.reader.ReportInvalid(rctx, c.cfg.App, tok)
	} else {
		err = c.st.Report(rctx, c.cfg.App, tok)
	}
	if err == nil {
		c.mu.Lock()
		c.path(lib).Reports++
		c.mu.Unlock()
	}
}

// readOnce reads a value one way and judges or uses it.
func (c *Checker) readOnce(ctx context.Context, lib bool) (string, readResult, int) {
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	start := time.Now()
	var tok string
	if !lib {
		v, err := c.cfg.Redis.Get(rctx, c.key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			return "", readEmpty, 0
		case err != nil:
			return "", readError, 0
		}
		tok = v
	} else {
		v, err := c.reader.Token(rctx, c.cfg.App)
		switch {
		case errors.Is(err, reader.ErrNoToken):
			return "", readEmpty, 0
		case err != nil:
			return "", readError, 0
		}
		tok = v.Value
	}
	code := 0
	if lib && c.cfg.Check == CheckWeChatAPI {
		var err error
		if code, err = c.callbackIP(rctx, tok); err != nil {
			return "", readError, 0
		}
		if code == wechattest.CodeExpired && aliveAt(c.cfg.Server.CheckToken(tok), start) {
			return tok, readLate, code
		}
	} else {
		code = c.judge(tok, start)
	}
	if isDead(code) {
		return tok, readDead, code
	}
	return tok, readOK, 0
}

// callbackIP calls the fake's protected API like a business app would.
func (c *Checker) callbackIP(ctx context.Context, tok string) (int, error) {
	u := c.cfg.Server.URL + "/cgi-bin/getcallbackip?access_token=" + url.QueryEscape(tok)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var ans struct {
		Errcode int `json:"errcode"`
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return 0, err
	}
	return ans.Errcode, nil
}
