package refresher

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/upstream"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/platform"
)

// gatedProvider is a fakeProvider behind an upstream.Gate: ready decides
// Ready; tends counts Tend calls.
type gatedProvider struct {
	fakeProvider
	mu    sync.Mutex
	ready bool
	tends atomic.Int32
}

func (p *gatedProvider) Ready(context.Context) (upstream.Readiness, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ready {
		return upstream.Readiness{WaitingFor: "component_verify_ticket"}, nil
	}
	return upstream.Readiness{Ready: true}, nil
}

func (p *gatedProvider) Tend(context.Context) error { p.tends.Add(1); return nil }

func (p *gatedProvider) TendEvery() time.Duration { return 0 }

func (p *gatedProvider) setReady(v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready = v
}

// startGated runs a refresher leading at once with p as the credential
// "op"; ReportPoll is an hour, so only events and due times wake it.
func startGated(t *testing.T, p *gatedProvider) (*Refresher, *store.Store, *redis.Client) {
	t.Helper()
	s, rdb, _ := miniStore(t)
	cfg := baseConfig(s, fixedElector{fixedTerm(t, s, rdb, "L")}, App{ID: "op", Provider: p, Kind: "wechat_component"})
	cfg.ReportPoll = time.Hour
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	return r, s, rdb
}

// TestRefresher_gate_waitsThenInputWakes: with no pushed input nothing is
// called and no fetch ticket is taken (no budget unit); the credential
// shows waiting "input". The input event the store publishes with a new
// verify ticket wakes it at once (ReportPoll is an hour here), and Tend
// ran at the start of the term.
func TestRefresher_gate_waitsThenInputWakes(t *testing.T) {
	p := &gatedProvider{fakeProvider: fakeProvider{name: "op", lifetime: time.Hour}}
	r, s, rdb := startGated(t, p)
	wait.For(t, 5*time.Second, "the component waiting for its input", func() bool {
		st := r.States()[0]
		return st.Waiting == waitInput && st.WaitingFor == "component_verify_ticket"
	})
	ctx := context.Background()
	if p.Calls() != 0 || rdb.Exists(ctx, s.Keys().Ticket("op"), s.Keys().Budget("op")).Val() != 0 {
		t.Fatalf("calls %d, ticket or budget key written: want no call and no fetch ticket", p.Calls())
	}
	if p.tends.Load() == 0 {
		t.Fatal("Tend not called at the start of the term")
	}
	p.setReady(true)
	if _, err := platform.New(s).StoreVerifyTicket(ctx, "op", "ticket", time.Unix(1_700_000_000, 0)); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 5*time.Second, "the token, woken by the input event", func() bool {
		return token(t, rdb, s, "op") != "" && r.States()[0].Waiting == ""
	})
	if p.Calls() != 1 {
		t.Fatalf("calls %d, want 1", p.Calls())
	}
}

// TestRefresher_gate_inputRefusedNotRetried: a fetch refused for its
// input (ClassInput, 61005) is not retried with backoff: one call, then
// the credential waits for a new input with the error in its state.
func TestRefresher_gate_inputRefusedNotRetried(t *testing.T) {
	p := &gatedProvider{fakeProvider: fakeProvider{name: "op", lifetime: time.Hour}, ready: true}
	p.set(&upstream.Error{Code: 61005, Message: "verify ticket timeout", Class: upstream.ClassInput}, nil)
	r, _, _ := startGated(t, p)
	wait.For(t, 5*time.Second, "the refused fetch", func() bool { return r.States()[0].LastErrorCode == 61005 })
	wait.Hold(t, 300*time.Millisecond, "no retry (RetryMin is 20ms)")
	st := r.States()[0]
	if p.Calls() != 1 || st.Waiting != waitInput || st.LastErrorClass != "input" {
		t.Fatalf("calls %d, waiting %q, class %q: want 1 call, waiting input, class input", p.Calls(), st.Waiting, st.LastErrorClass)
	}
}
