package main

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// upstream is the fake WeChat server on 127.0.0.1 behind a middleware that
// records when each app's token fetch was answered and, for the apps
// given a latency, delays the request and the answer like a WAN round trip:
// the token is minted after the first half and delivered after the second,
// so concurrent fetchers can receive their tokens in another order than
// the upstream issued them. Safe for concurrent use.
type upstream struct {
	*wechattest.Server
	URL string
	hs  *httptest.Server

	mu      sync.Mutex // guards fetched and rtt
	fetched map[string][]time.Time
	rtt     map[string]time.Duration // by appid
}

func newUpstream(cfg wechattest.Config) *upstream {
	u := &upstream{
		Server:  wechattest.New(cfg),
		fetched: map[string][]time.Time{},
		rtt:     map[string]time.Duration{},
	}
	u.hs = httptest.NewServer(http.HandlerFunc(u.serve)) // listens on 127.0.0.1
	u.URL = u.hs.URL
	return u
}

func (u *upstream) Close() {
	u.hs.Close()
	u.Server.Close()
}

// setRTT gives appid's calls a simulated round trip (0: none).
func (u *upstream) setRTT(appid string, rtt time.Duration) {
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

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
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

// fetches returns the answer times of appid's successful classic fetches.
func (u *upstream) fetches(appid string) []time.Time {
	u.mu.Lock()
	ts := append([]time.Time(nil), u.fetched[appid]...)
	u.mu.Unlock()
	slices.SortFunc(ts, time.Time.Compare)
	return ts
}

// fetchCount is how many classic fetches of appid succeeded, per the
// fake's own audit.
func (u *upstream) fetchCount(appid string) int {
	return u.Audit().Fetches[appid+"/token"]
}

// bursts groups fetch times into refresh cycles: fetches closer than gap
// belong to one cycle. It returns the number of cycles and the largest
// number of fetches in one.
func bursts(ts []time.Time, gap time.Duration) (cycles, maxPer int) {
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

// isDead reports whether the upstream rejects tok as superseded, expired
// or unknown.
func isDead(code int) bool {
	return code == wechattest.CodeNotLatest || code == wechattest.CodeExpired || code == wechattest.CodeIllegal
}
