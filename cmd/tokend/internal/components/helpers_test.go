package components_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/cmd/tokend/internal/httpapi"
	"github.com/tokend/tokend/cmd/tokend/internal/metrics"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/platform"
	"github.com/tokend/tokend/store/reader"
)

// The routes are tested as served: mounted by an httpapi.Server on
// miniredis, with its client check, answers and route table.

type noLeader struct{}

func (noLeader) Leading() (int64, bool) { return 0, false }

// env is a served API and the store behind it.
type env struct {
	h     http.Handler // the API's routes
	store *platform.Store
	rdb   *redis.Client
}

// newEnv serves an API of apps accepting bearer "k"; set adjusts its
// Config.
func newEnv(t *testing.T, apps []httpapi.App, set func(*httpapi.Config)) *env {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	base, err := store.New(store.Config{Client: rdb})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := reader.New(rdb, reader.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	e := &env{store: platform.New(base), rdb: rdb}
	cfg := httpapi.Config{Store: e.store, Fleet: fleet.New(base), Tokens: rd, Leader: noLeader{}, Metrics: metrics.New(),
		Apps: apps, AuthTokens: []string{"k"}, RefreshWait: 2 * time.Second}
	if set != nil {
		set(&cfg)
	}
	api, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h = api.Handler()
	return e
}

// writeToken stores a token for id as a leader would: it takes a fetch
// ticket under a lease of its own, then writes 2 h of life.
func (e *env) writeToken(t *testing.T, id, token string) {
	t.Helper()
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.rdb.Set(ctx, e.store.Keys().Lease(), "L", time.Minute).Err())
	tk, err := e.store.TakeTicket(ctx, id, "L", 0)
	must(err)
	_, err = e.store.WriteToken(ctx, store.Write{App: id, Ticket: tk, Token: token, ExpiresIn: 2 * time.Hour, SafetyMargin: time.Minute})
	must(err)
}

// reply is an answer: status, decoded JSON body and the raw body.
type reply struct {
	code int
	body map[string]any
	raw  string
}

// do serves a request with bearer ("" for none) through the API's
// handler; every answer must be JSON.
func (e *env) do(t *testing.T, method, path, bearer, body string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: content type %q, body %q", method, path, ct, rec.Body)
	}
	r := reply{code: rec.Code, raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &r.body)
	return r
}
