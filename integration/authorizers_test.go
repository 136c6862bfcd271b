package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/harness"
	"github.com/tokend/tokend/integration/wait"
	"github.com/tokend/tokend/refresher/openplatform"
	"github.com/tokend/tokend/refresher/openplatform/keeper"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/platform"
)

// Open Platform phase 2: authorizers authorized by pushes to random
// replicas, their tokens kept by the leader.
const (
	authLifetime = 8 * time.Second
	authCount    = 200
)

func authAppID(i int) string { return fmt.Sprintf("wxit%06d", i) }

// authRecords reads every authorizer's record: versions by appid and how
// many hold no valid token.
func (e *compEnv) authRecords(t *testing.T, n int) (map[string]int64, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, invalid := map[string]int64{}, 0
	for i := range n {
		rec, err := e.st.Record(ctx, platform.AuthorizerID(compID, authAppID(i)))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("record %d: %v", i, err)
		}
		if !rec.Valid() {
			invalid++
		}
		out[authAppID(i)] = rec.Version
	}
	return out, invalid
}

// TestAuthorizers_pushedKeptRebuilt: 200 authorizers authorized by pushes
// stay fresh for several lifetimes, one fetch per write and no dead token
// read; a re-authorization rotates the refresh token and the next refresh
// uses the new one; an unauthorized event removes one; a lost hash is
// rebuilt from the list; 61023 marks one as needing re-authorization.
func TestAuthorizers_pushedKeptRebuilt(t *testing.T) {
	e := newCompEnvWith(t, 300*time.Millisecond, authLifetime, map[string]any{"authorizer_rate": 400})
	ctx := context.Background()
	wait.For(t, 15*time.Second, "the component token", func() bool { return e.record().Valid() })
	for i := range authCount {
		p, err := e.srv.Authorize(ctx, compAppID, authAppID(i))
		if err != nil || p.Body != "success" {
			t.Fatalf("authorize %d: %+v, %v", i, p, err)
		}
	}
	wait.For(t, 30*time.Second, "every authorizer's first token", func() bool {
		_, invalid := e.authRecords(t, authCount)
		return invalid == 0
	})

	// Several lifetimes: readers judge random authorizer tokens.
	e.measureAuthorizers(t, 0, e.procs, func() { wait.Hold(t, 3*authLifetime, "three lifetimes") })
	if rows := e.authorizerList(t); len(rows) != authCount || rows["wxit000007"] != "valid" {
		t.Errorf("list: %d rows, wxit000007 %q", len(rows), rows["wxit000007"])
	}
	e.checkReauthorization(t)
	e.checkUnauthorized(t)
	e.checkRebuilt(t)
	e.check61023(t)
	if rows := e.authorizerList(t); rows[authAppID(2)] != "needs_reauthorization" || len(rows) != authCount-1 {
		t.Errorf("list after 61023: %d rows, %s %q", len(rows), authAppID(2), rows[authAppID(2)])
	}
	wait.For(t, 10*time.Second, "status counts 199 authorizers, 1 needing re-authorization", func() bool {
		c := e.statusCounts(t)
		return c.Total == authCount-1 && c.NeedsReauthorization == 1 && c.Valid == authCount-2
	})
	// Leader SIGKILL: the others keep every live authorizer fresh.
	leader, _ := e.cluster.WaitLeader(5*time.Second, nil)
	live := e.cluster.Without(leader)
	e.measureAuthorizers(t, 3, live, func() {
		leader.Kill()
		next, took := e.cluster.WaitLeader(10*time.Second, live)
		t.Logf("leader %s killed, %s took over in %s", leader.ID, next.ID, took)
		wait.Hold(t, 3*authLifetime, "three lifetimes after the kill")
	})
}

// measureAuthorizers runs act while readers read the tokens of
// authorizers from..authCount-1 through random replicas of procs and
// judge them with the fake; then it checks 0 dead, every token valid and
// one fetch per write (3..7 per authorizer in three lifetimes).
func (e *compEnv) measureAuthorizers(t *testing.T, from int, procs []*harness.Process, act func()) {
	t.Helper()
	n := authCount - from
	v0, _ := e.authRecords(t, authCount)
	f0 := e.srv.AuthorizerStats(compAppID)
	stop := readTokens(e.srv, procs, 5*time.Millisecond, func() string {
		return "/v1/components/" + compID + "/authorizers/" + authAppID(from+rand.N(n)) + "/token"
	})
	act()
	reads := stop()
	served, dead, empty := reads.served.Load(), reads.dead.Load()+reads.bad.Load(), reads.empty.Load()
	v1, invalid := e.authRecords(t, authCount)
	f1 := e.srv.AuthorizerStats(compAppID)
	writes := 0
	for id, v := range v1 {
		writes += int(v - v0[id])
	}
	invalid -= from // the ones before from may be gone on purpose
	fetches := f1.TokenFetches - f0.TokenFetches
	t.Logf("%d authorizers: %d fetches, %d writes, %d reads, %d dead, %d without a token (503), %d invalid at the end",
		n, fetches, writes, served, dead, empty, invalid)
	// A gap (503) is allowed only rarely: beside a CPU hog a SIGKILL
	// takeover left 2 of 3,685 reads without a token.
	if empty > served/100 {
		t.Errorf("%d reads found no valid token (503) against %d served: want at most 1%%", empty, served)
	}
	// Refreshed at half to five eighths of an 8s life: 4.8 to 6 cycles in
	// 24s; one fetch per write, a few in flight at the edges.
	if dead != 0 || invalid > 0 || served < 100 {
		t.Errorf("dead %d, invalid %d, served %d: want 0 dead; first dead reads: %q", dead, invalid, served, reads.Why())
	}
	if fetches < 3*n || fetches > 7*n || fetches-writes > 10 || writes-fetches > 10 {
		t.Errorf("%d fetches for %d writes: want one per write, 3..7 per authorizer", fetches, writes)
	}
}

// statusCounts is the component's authorizer counts in GET /v1/status of
// a random replica.
func (e *compEnv) statusCounts(t *testing.T) (c struct {
	Total, Valid, Failing int
	NeedsReauthorization  int `json:"needs_reauthorization"`
}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, body, err := e.procs[rand.N(len(e.procs))].Get(ctx, "/v1/status")
	if err != nil {
		return c
	}
	var ans struct {
		Apps []struct {
			ID          string
			Authorizers *json.RawMessage
		}
	}
	_ = json.Unmarshal(body, &ans)
	for _, a := range ans.Apps {
		if a.ID == compID && a.Authorizers != nil {
			_ = json.Unmarshal(*a.Authorizers, &c)
		}
	}
	return c
}

// authorizerList reads GET /v1/components/{id}/authorizers (one page of
// 1000) from a replica: status by appid. It fails on a refresh token.
func (e *compEnv) authorizerList(t *testing.T) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, body, err := e.procs[0].Get(ctx, "/v1/components/"+compID+"/authorizers?limit=1000")
	if err != nil || code != 200 {
		t.Fatalf("list: %d %s %v", code, body, err)
	}
	if strings.Contains(string(body), "refresh") {
		t.Fatalf("the list shows refresh tokens: %.200s", body)
	}
	var ans struct {
		Authorizers []struct{ AppID, Status string }
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range ans.Authorizers {
		out[a.AppID] = a.Status
	}
	return out
}

// checkReauthorization: a new authorization rotates the refresh token,
// the next refresh uses the new one (no 61023).
func (e *compEnv) checkReauthorization(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	id := authAppID(0)
	refused := e.srv.AuthorizerStats(compAppID).Refused61023
	if _, err := e.srv.Authorize(ctx, compAppID, id); err != nil {
		t.Fatal(err)
	}
	rt := e.srv.AuthorizerRefreshToken(compAppID, id)
	wait.For(t, 10*time.Second, "the rotated refresh token stored", func() bool {
		a, err := platform.New(e.st).Authorizer(ctx, compID, id)
		return err == nil && a.RefreshToken == rt
	})
	v := e.authVersion(t, id)
	wait.For(t, 3*authLifetime, "a refresh with the new refresh token", func() bool { return e.authVersion(t, id) > v })
	if got := e.srv.AuthorizerStats(compAppID).Refused61023; got != refused {
		t.Errorf("61023 answers went from %d to %d after a re-authorization", refused, got)
	}
}

func (e *compEnv) authVersion(t *testing.T, appid string) int64 {
	t.Helper()
	rec, _ := e.st.Record(context.Background(), platform.AuthorizerID(compID, appid))
	return rec.Version
}

// checkUnauthorized: the event removes the authorizer and its token, and
// nothing fetches it again.
func (e *compEnv) checkUnauthorized(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	id := authAppID(1)
	if p, err := e.srv.Unauthorize(ctx, compAppID, id); err != nil || p.Body != "success" {
		t.Fatalf("unauthorize: %+v, %v", p, err)
	}
	wait.For(t, 5*time.Second, "the authorizer removed", func() bool {
		_, err := platform.New(e.st).Authorizer(ctx, compID, id)
		rec, _ := e.st.Record(ctx, platform.AuthorizerID(compID, id))
		return errors.Is(err, store.ErrNotFound) && rec.Version == 0
	})
	before := e.srv.Audit().Fetches[id+"/authorizer_token"]
	wait.Hold(t, authLifetime, "a full life: it would have been refreshed")
	if after := e.srv.Audit().Fetches[id+"/authorizer_token"]; after != before {
		t.Errorf("an unauthorized authorizer was fetched %d more times", after-before)
	}
}

// checkRebuilt: the hash deleted is rebuilt from api_get_authorizer_list
// (199 authorizers: one unauthorized), no token lost meanwhile.
func (e *compEnv) checkRebuilt(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	lists := e.srv.AuthorizerStats(compAppID).ListCalls
	if err := e.rdb.Del(ctx, platform.AuthorizersKey(e.st.Keys(), compID)).Err(); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "the authorizer list rebuilt", func() bool {
		n, _ := platform.New(e.st).CountAuthorizers(ctx, compID)
		return n == authCount-1
	})
	if got := e.srv.AuthorizerStats(compAppID).ListCalls - lists; got < 1 {
		t.Errorf("rebuilt without api_get_authorizer_list (%d calls)", got)
	}
	wait.Hold(t, authLifetime, "a lifetime")
	if _, invalid := e.authRecords(t, authCount); invalid != 1 { // the unauthorized one
		t.Errorf("%d authorizers without a valid token after the rebuild, want 1 (the unauthorized)", invalid)
	}
}

// check61023: a revoked refresh token puts the authorizer in "needs
// re-authorization" (status), and it is not called again.
func (e *compEnv) check61023(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	id := authAppID(2)
	e.srv.RevokeAuthorizer(compAppID, id)
	wait.For(t, 3*authLifetime, "needs re-authorization in status", func() bool {
		st, err := e.st.Status(ctx, platform.AuthorizerID(compID, id))
		return err == nil && st.WaitingFor == keeper.WaitingReauthorization && st.LastErrorCode == openplatform.CodeNeedsReauthorization
	})
	refused := e.srv.AuthorizerStats(compAppID).Refused61023
	wait.Hold(t, authLifetime, "a lifetime")
	if got := e.srv.AuthorizerStats(compAppID).Refused61023; got != refused {
		t.Errorf("called %d more times after 61023", got-refused)
	}
}
