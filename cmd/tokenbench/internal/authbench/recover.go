package authbench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store/event"
	"github.com/tokend/tokend/store/platform"
)

// recover deletes the authorizer list and waits until the leader rebuilt
// it from api_get_authorizer_list (at most a minute), checks that no
// authorizer was lost (each stored with the upstream's current refresh
// token, each token still valid), then authorizes one more account by a
// push and times its first token: refreshing resumed.
func (r *runner) recover(ctx context.Context) (Recovery, error) {
	var rec Recovery
	rdb, st := r.cfg.Env.RDB, r.d.Store
	s0 := r.up.AuthorizerStats(compAppID)
	t0 := time.Now()
	if err := rdb.Del(ctx, platform.AuthorizersKey(st.Keys(), ComponentID)).Err(); err != nil {
		return rec, err
	}
	for {
		n, err := platform.New(st).CountAuthorizers(ctx, ComponentID)
		if err == nil && n >= r.cfg.Authorizers {
			break
		}
		if time.Since(t0) > time.Minute {
			return rec, fmt.Errorf("recovery: %d of %d authorizers in the hash a minute after the DEL", n, r.cfg.Authorizers)
		}
		if err := fleet.Sleep(ctx, 10*time.Millisecond); err != nil {
			return rec, err
		}
	}
	rec.Rebuilt = time.Since(t0)
	if err := r.checkKept(ctx, &rec); err != nil {
		return rec, err
	}
	s1 := r.up.AuthorizerStats(compAppID)
	rec.ListCalls, rec.Fetches, rec.Refused61023 = s1.ListCalls-s0.ListCalls, s1.TokenFetches-s0.TokenFetches, s1.Refused61023-s0.Refused61023
	t1 := time.Now()
	id := authPrefix + "new"
	if p, err := r.up.Authorize(ctx, compAppID, id); err != nil || p.Body != "success" {
		return rec, fmt.Errorf("recovery: authorize %s: %+v %v", id, p, err)
	}
	for !r.toks.Seen(platform.AuthorizerID(ComponentID, id)) {
		if time.Since(t1) > 30*time.Second {
			return rec, fmt.Errorf("recovery: no token for a new authorization within 30 s")
		}
		if err := fleet.Sleep(ctx, 10*time.Millisecond); err != nil {
			return rec, err
		}
	}
	rec.Resumed = time.Since(t1)
	return rec, nil
}

// checkKept counts authorizers missing from the rebuilt hash, stored with
// another refresh token than the upstream's, or without a valid token.
func (r *runner) checkKept(ctx context.Context, rec *Recovery) error {
	stored := map[string]string{}
	_, _, err := platform.New(r.d.Store).ScanAuthorizers(ctx, ComponentID, 0, func(page []platform.Authorizer) error {
		for _, a := range page {
			stored[a.AppID] = a.RefreshToken
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range r.ids {
		rt, ok := stored[id]
		switch {
		case !ok:
			rec.Lost++
		case rt != r.up.AuthorizerRefreshToken(compAppID, id):
			rec.Mismatched++
		}
		if tr, err := r.d.Store.Record(ctx, platform.AuthorizerID(ComponentID, id)); err != nil || !tr.Valid() {
			rec.Invalid++
		}
	}
	return nil
}

// componentOf is the fake's component, pushing to url: no automatic
// pushes (WeChat's come every 10 min; the leader's api_start_push_ticket
// at its start brings the first ticket).
func componentOf(u, secret string) wechattest.Component {
	return wechattest.Component{
		AppID: compAppID, Secret: secret, Token: fleet.ComponentMsgToken, EncodingAESKey: fleet.ComponentAESKey,
		CallbackURLs: []string{u + "/callback/components/" + ComponentID},
	}
}

// balancer is the load balancer in front of the replicas' push route:
// each push goes to a random replica (the next on error). Until
// SetTargets it holds requests for up to 5 s.
type balancer struct {
	*httptest.Server
	mu      sync.Mutex // guards targets
	targets []string   // host:port
	ready   chan struct{}
}

func newBalancer() *balancer {
	b := &balancer{ready: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	return b
}

func (b *balancer) SetTargets(reps []*fleet.Replica) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range reps {
		b.targets = append(b.targets, r.Addr)
	}
	close(b.ready)
}

func (b *balancer) serve(w http.ResponseWriter, req *http.Request) {
	select {
	case <-b.ready:
	case <-time.After(5 * time.Second):
		http.Error(w, "no replica yet", http.StatusBadGateway)
		return
	}
	b.mu.Lock()
	targets := append([]string(nil), b.targets...)
	b.mu.Unlock()
	rand.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	body, err := readBody(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for i, t := range targets {
		rec := httptest.NewRecorder()
		req.Body = body()
		httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: t}).ServeHTTP(rec, req)
		if rec.Code != http.StatusBadGateway || i == len(targets)-1 {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
	}
}

// tokenCounter follows token events of one component's authorizers.
type tokenCounter struct {
	stop func()

	mu        sync.Mutex // guards the fields below
	seen      map[string]bool
	component time.Time // when the component token was first written
}

// countTokens counts token events of "<component>/..." on d from now on,
// until Close.
func countTokens(ctx context.Context, d *fleet.Deployment, component string) (*tokenCounter, error) {
	c := &tokenCounter{seen: map[string]bool{}}
	var err error
	c.stop, err = d.Follow(ctx, func(ev event.Event) bool {
		if ev.Type != event.Token {
			return true
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case ev.App == component && c.component.IsZero():
			c.component = time.Now()
		case strings.HasPrefix(ev.App, component+"/"):
			c.seen[ev.App] = true
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *tokenCounter) Close() { c.stop() }

func (c *tokenCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *tokenCounter) Seen(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[id]
}

func (c *tokenCounter) Component() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.component
}

// WaitAll waits until n authorizers had a token, logging progress every
// 10 s, bounded by limit.
func (c *tokenCounter) WaitAll(ctx context.Context, n int, limit time.Duration, logf func(string, ...any)) error {
	start, next := time.Now(), time.Now().Add(10*time.Second)
	for c.count() < n {
		if time.Since(start) > limit {
			return fmt.Errorf("%d of %d authorizers had a token within %s", c.count(), n, limit)
		}
		if time.Now().After(next) {
			logf("authorizers: %d of %d have a token after %s", c.count(), n, time.Since(start).Round(time.Second))
			next = next.Add(10 * time.Second)
		}
		if err := fleet.Sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// readBody reads req's body (bounded at 1 MiB) and returns a function
// that gives a fresh reader of it for each try.
func readBody(req *http.Request) (func() io.ReadCloser, error) {
	data, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return func() io.ReadCloser { return io.NopCloser(bytes.NewReader(data)) }, nil
}
