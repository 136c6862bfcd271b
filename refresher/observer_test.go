package refresher

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/wait"
)

// tokenObserver records WrittenToken calls.
type tokenObserver struct {
	countingObserver
	tmu    sync.Mutex // guards tokens
	tokens []string   // "app fingerprint version"
}

func (o *tokenObserver) WrittenToken(app, fp string, version int64) {
	o.tmu.Lock()
	defer o.tmu.Unlock()
	o.tokens = append(o.tokens, app+" "+fp+" "+strconv.FormatInt(version, 10))
}

// TestRefresher_TokenObserver: an Observer that is a TokenObserver gets
// the written token's fingerprint and version, never its value.
func TestRefresher_TokenObserver(t *testing.T) {
	s, rdb, _ := miniStore(t)
	p := &fakeProvider{name: "up", lifetime: time.Hour}
	obs := &tokenObserver{}
	cfg := baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "app", Provider: p})
	cfg.Observer = obs
	r, _ := New(cfg)
	start(t, r)
	wait.For(t, 5*time.Second, "first token", func() bool { return obs.written.Load() == 1 })
	tok := token(t, rdb, s, "app")
	obs.tmu.Lock()
	defer obs.tmu.Unlock()
	want := "app " + Fingerprint(tok) + " 1"
	if len(obs.tokens) != 1 || obs.tokens[0] != want {
		t.Fatalf("WrittenToken calls = %q, want [%q]", obs.tokens, want)
	}
}
