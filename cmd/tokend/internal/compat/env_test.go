package compat

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tokend/tokend/cmd/tokend/internal/metrics"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/reader"
)

// TestMain checks that no test leaves a goroutine behind (Run, the index's
// shared syncs, the reader's).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is Routes on miniredis, registered on a mux with the metrics at
// /metrics; force_refresh answers the current token (noRefresh) unless the
// test's Config says otherwise.
type env struct {
	routes *Routes
	mux    *http.ServeMux
	store  *store.Store
	rdb    *redis.Client
}

func noRefresh(context.Context, string, string, time.Duration) (reader.Token, bool) {
	return reader.Token{}, false
}

// newEnvWith is Routes whose Config set adjusts; no app unless set says.
func newEnvWith(t *testing.T, set func(*Config)) *env {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	st, err := store.New(store.Config{Client: rdb})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := reader.New(rdb, reader.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	m := metrics.New()
	cfg := Config{Tokens: rd, Record: st.Record, Refresh: noRefresh, WrongSecret: m.WrongSecret}
	set(&cfg)
	routes, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	routes.Register(mux)
	mux.Handle("GET /metrics", m.Handler())
	return &env{routes: routes, mux: mux, store: st, rdb: rdb}
}

// writeToken stores token as credential id's value, as a leader would:
// 2 h of life with a 1 m safety margin.
func (e *env) writeToken(t *testing.T, id, token string) {
	t.Helper()
	ctx := context.Background()
	e.rdb.Set(ctx, e.store.Keys().Lease(), "L", time.Minute)
	tk, err := e.store.TakeTicket(ctx, id, "L", 0)
	if err == nil {
		_, err = e.store.WriteToken(ctx, store.Write{App: id, Ticket: tk, Token: token, ExpiresIn: 2 * time.Hour, SafetyMargin: time.Minute})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// reply is an answer as recorded, with its body as text (raw) and
// decoded (body: nil when not JSON).
type reply struct {
	*httptest.ResponseRecorder
	raw  string
	body map[string]any
}

// do serves method path with body (none if "") on the env's mux.
func (e *env) do(t *testing.T, method, path, body string) reply {
	t.Helper()
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
	r := reply{ResponseRecorder: w, raw: w.Body.String()}
	if ct := w.Header().Get("Content-Type"); path != "/metrics" && !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: content type %q, body %q", method, path, ct, r.raw)
	}
	_ = json.Unmarshal(w.Body.Bytes(), &r.body)
	return r
}

func TestNew_required(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.HasPrefix(err.Error(), "compat: ") {
		t.Fatalf("New without dependencies: %v", err)
	}
}
