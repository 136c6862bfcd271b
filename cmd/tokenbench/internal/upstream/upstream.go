// Package upstream is tokenbench's fake WeChat: wechattest.Server on
// 127.0.0.1 behind a middleware that records each app's answered token
// Fetches and simulates a WAN round trip.
package upstream

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// Fake is the fake WeChat server on 127.0.0.1 behind a middleware that
// records when each app's token fetch was answered and, for the apps
// given a latency, delays the request and the answer like a WAN round trip:
// the token is minted after the first half and delivered after the second,
// so concurrent fetchers can receive their tokens in another order than
// the upstream issued them. Safe for concurrent use.
type Fake struct {
	*wechattest.Server
	URL string
	hs  *httptest.Server

	mu      sync.Mutex // guards fetched and rtt
	fetched map[string][]time.Time
	rtt     map[string]time.Duration // by appid
}

func New(cfg wechattest.Config) *Fake {
	u := &Fake{
		Server:  wechattest.New(cfg),
		fetched: map[string][]time.Time{},
		rtt:     map[string]time.Duration{},
	}
	u.hs = httptest.NewServer(http.HandlerFunc(u.serve)) // listens on 127.0.0.1
	u.URL = u.hs.URL
	return u
}

func (u *Fake) Close() {
	u.hs.Close()
	u.Server.Close()
}

// SetRTT gives appid's calls a simulated round trip (0: none).
func (u *Fake) SetRTT(appid string, rtt time.Duration) {
	u.mu.Lock()
	u.rtt[appid] = rtt
	u.mu.Unlock()
}

// half is one direction of rtt: uniform in [rtt/4, 3rtt/4].
func half(rtt time.Duration) time.Duration {
	if rtt <= 0 {
		return 0
	}
	return rtt/4 + rand.N(rtt/2+1)
}

func (u *Fake) serve(w http.ResponseWriter, r *http.Request) {
	appid := r.URL.Query().Get("appid")
	u.mu.Lock()
	rtt := u.rtt[appid]
	u.mu.Unlock()
	time.Sleep(half(rtt))
	rec := httptest.NewRecorder()
	u.Server.Handler().ServeHTTP(rec, r)
	if r.URL.Path == "/cgi-bin/token" && rec.Code == http.StatusOK &&
		strings.Contains(rec.Body.String(), `"access_token"`) {
		u.mu.Lock()
		u.fetched[appid] = append(u.fetched[appid], time.Now())
		u.mu.Unlock()
	}
	time.Sleep(half(rtt))
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// Fetches returns the answer times of appid's successful classic fetches.
func (u *Fake) Fetches(appid string) []time.Time {
	u.mu.Lock()
	ts := append([]time.Time(nil), u.fetched[appid]...)
	u.mu.Unlock()
	slices.SortFunc(ts, time.Time.Compare)
	return ts
}

// FetchCount is how many classic fetches of appid succeeded, per the
// fake's own audit.
func (u *Fake) FetchCount(appid string) int {
	return u.Audit().Fetches[appid+"/token"]
}

// Bursts groups fetch times into refresh cycles: fetches closer than gap
// belong to one cycle. It returns the number of cycles and the largest
// number of fetches in one.
func Bursts(ts []time.Time, gap time.Duration) (cycles, maxPer int) {
	n := 0
	for i, t := range ts {
		if i == 0 || t.Sub(ts[i-1]) > gap {
			cycles++
			n = 0
		}
		n++
		maxPer = max(maxPer, n)
	}
	return cycles, maxPer
}

// IsDead reports whether the upstream rejects tok as superseded, expired
// or unknown.
func IsDead(code int) bool {
	return code == wechattest.CodeNotLatest || code == wechattest.CodeExpired || code == wechattest.CodeIllegal
}

// FastOverlap keeps WeChat's proportion: a superseded token works for 5 min
// of a 2 h lifetime.
func FastOverlap(lifetime time.Duration) time.Duration { return lifetime / 24 }

// NewFast is a Fake with lifetime tokens, WeChat's overlap proportion and
// no daily quota.
func NewFast(lifetime time.Duration) *Fake {
	return New(wechattest.Config{Lifetime: lifetime, Overlap: FastOverlap(lifetime), DailyQuota: -1})
}

// SlowConfig is WeChat's real timing (2 h tokens, 5 min overlap).
func SlowConfig() wechattest.Config { return wechattest.Config{DailyQuota: -1} }

// ReadStats counts what readers were handed.
type ReadStats struct {
	Reads, Dead, Missing atomic.Int64
}

// Observe counts a read of tok, dead when u refuses it with the upstream's protected-API logic.
func (s *ReadStats) Observe(u *Fake, tok string) {
	s.Reads.Add(1)
	if IsDead(u.Check(tok)) {
		s.Dead.Add(1)
	}
}
