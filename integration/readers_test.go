package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// tokenReads counts what a tokenReader saw.
type tokenReads struct {
	served atomic.Int64 // 200 with an access_token
	dead   atomic.Int64 // served, and refused by the upstream
	empty  atomic.Int64 // 503: no valid token (a gap, not a dead token)
	bad    atomic.Int64 // another status or a body without a token

	mu  sync.Mutex // guards why
	why []string   // the first few dead or bad reads, for the log
}

func (r *tokenReads) note(n *atomic.Int64, format string, args ...any) {
	n.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.why) < 5 {
		r.why = append(r.why, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
	}
}

// Why is the first few dead or bad reads.
func (r *tokenReads) Why() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.why...)
}

// readTokens reads path() (a route answering {"access_token"}) from a
// random replica of procs every interval until the returned stop is
// called, and judges each served token with srv as of the read's start
// (harness.Checker's rule: a token that expired while a loaded machine
// delayed the check was live when tokend handed it out). A request that
// fails (a replica killed meanwhile) is not counted.
func readTokens(srv *wechattest.Server, procs []*harness.Process, every time.Duration, path func() string) (stop func() *tokenReads) {
	r := &tokenReads{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(every):
			}
			r.readOnce(srv, procs[rand.N(len(procs))], path())
		}
	})
	return func() *tokenReads {
		close(done)
		wg.Wait()
		return r
	}
}

func (r *tokenReads) readOnce(srv *wechattest.Server, p *harness.Process, path string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	code, body, err := p.Get(ctx, path)
	if err != nil {
		return
	}
	var ans struct {
		AccessToken string `json:"access_token"`
	}
	switch {
	case code == http.StatusServiceUnavailable:
		r.empty.Add(1)
		return
	case code != http.StatusOK || json.Unmarshal(body, &ans) != nil || ans.AccessToken == "":
		r.note(&r.bad, "%s: http %d %.100s", path, code, body)
		return
	}
	r.served.Add(1)
	st := srv.CheckToken(ans.AccessToken)
	if st.Code == wechattest.CodeExpired && st.ExpiresAt.After(start.Add(-harness.ExpiryGrain)) {
		st.Code = 0
	}
	if st.Code != 0 {
		r.note(&r.dead, "%s: upstream %d", path, st.Code)
	}
}
