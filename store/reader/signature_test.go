package reader

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/jssdk"
)

// putValue writes value for the credential id like a leader would.
func putValue(t *testing.T, s *store.Store, rdb *redis.Client, id, value string) int64 {
	t.Helper()
	holdLease(t, s, rdb)
	tk, err := s.TakeTicket(context.Background(), id, lease, 0)
	if err != nil {
		t.Fatal(err)
	}
	v, err := write(t, s, id, value, tk, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestReader_Token_ticket: a ticket ("<app>:<kind>") is a credential like
// any other: read, reloaded by its own events, reported on its own, and
// kept apart from its parent token.
func TestReader_Token_ticket(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store, rdb *redis.Client) {
		putValue(t, s, rdb, "mp-main", "tok-A")
		putValue(t, s, rdb, "mp-main:jsapi", "ticket-A")
		r := newReader(t, rdb, Config{})
		subscribed(t, r)
		ctx := context.Background()
		if tok := mustToken(t, r, "mp-main:jsapi"); tok.Value != "ticket-A" || tok.Version != 1 {
			t.Fatalf("ticket: %+v", tok)
		}
		if tok := mustToken(t, r, "mp-main"); tok.Value != "tok-A" {
			t.Fatalf("parent: %+v", tok)
		}
		if _, err := r.Token(ctx, "mp-main:wx_card"); !errors.Is(err, ErrNoToken) {
			t.Fatalf("unwritten kind: %v", err)
		}
		v := putValue(t, s, rdb, "mp-main:jsapi", "ticket-B")
		if tok := waitVersion(t, r, "mp-main:jsapi", v); tok.Value != "ticket-B" {
			t.Fatalf("ticket after its event: %+v", tok)
		}
		if tok := mustToken(t, r, "mp-main"); tok.Value != "tok-A" {
			t.Fatalf("the parent changed with its ticket: %+v", tok)
		}
		if err := r.ReportInvalid(ctx, "mp-main:jsapi", "ticket-B"); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.PendingReport(ctx, "mp-main:jsapi"); p != "ticket-B" {
			t.Fatalf("ticket report pending %q", p)
		}
		if p, _ := s.PendingReport(ctx, "mp-main"); p != "" {
			t.Fatalf("a ticket report landed on the parent: %q", p)
		}
		for _, bad := range []string{"mp-main:JSAPI", "mp-main:", ":jsapi", "mp-main:jsapi:x", "mp main:jsapi"} {
			if _, err := r.Token(ctx, bad); !errors.Is(err, ErrInvalidApp) {
				t.Errorf("Token(%q): %v, want ErrInvalidApp", bad, err)
			}
		}
	})
}

func TestReader_Signature(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	s := newStore(t, rdb)
	// WeChat's published example (jssdk's test cites it): ticket and time.
	const ticket = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
	const pageURL = "http://mp.weixin.qq.com?params=value"
	putValue(t, s, rdb, "mp-main:jsapi", ticket)
	putValue(t, s, rdb, "wecom-hr:agent_config", "agent-ticket")
	clk := clocktesting.NewFakeClock(time.Unix(1414587457, 0))
	r := newReader(t, rdb, Config{Clock: clk})
	ctx := context.Background()

	sig, err := r.Signature(ctx, "mp-main", "", pageURL+"#/route")
	if err != nil {
		t.Fatal(err)
	}
	if sig.Timestamp != 1414587457 || sig.URL != pageURL || len(sig.NonceStr) != jssdk.NonceLen ||
		sig.Signature != jssdk.Sign(ticket, sig.NonceStr, sig.Timestamp, pageURL) {
		t.Fatalf("signature %+v", sig)
	}
	clk.Step(90 * time.Second)
	again, err := r.Signature(ctx, "mp-main", "jsapi", pageURL)
	if err != nil || again.Timestamp != 1414587457+90 || again.NonceStr == sig.NonceStr {
		t.Fatalf("second signature %+v %v: want the clock's time and a new nonce", again, err)
	}
	agent, err := r.Signature(ctx, "wecom-hr", "agent_config", "https://example.com/p?a=1")
	if err != nil || agent.Signature != jssdk.Sign("agent-ticket", agent.NonceStr, agent.Timestamp, "https://example.com/p?a=1") {
		t.Fatalf("agent_config signature %+v %v", agent, err)
	}

	before := mr.CommandCount()
	var ue *jssdk.URLError
	if _, err := r.Signature(ctx, "mp-other", "jsapi", "/relative"); !errors.As(err, &ue) {
		t.Fatalf("relative URL: %v, want a *jssdk.URLError", err)
	}
	if _, err := r.Signature(ctx, "mp-main", "wx_card", pageURL); err == nil {
		t.Fatal("wx_card signed with the config signature")
	}
	if n := mr.CommandCount() - before; n != 0 {
		t.Fatalf("refused requests sent %d Redis commands", n)
	}
	if _, err := r.Signature(ctx, "mp-main", "agent_config", pageURL); !errors.Is(err, ErrNoToken) {
		t.Fatalf("no agent_config ticket: %v, want ErrNoToken", err)
	}
	if _, err := r.Signature(ctx, "a b", "jsapi", pageURL); !errors.Is(err, ErrInvalidApp) {
		t.Fatalf("bad app: %v", err)
	}
}
