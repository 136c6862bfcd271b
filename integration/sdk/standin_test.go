package sdk

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokend/tokend/refresher/wechat/wechattest"
	"github.com/tokend/tokend/store"
)

// ticketStandIn keeps each app's jsapi ticket in Redis while tokend's
// leader does not: the refresher of this tokend base declares ticket
// credentials but does not yet hand them their parent token
// (upstream.FetchRequest.ParentToken), so it never fetches one. The
// stand-in does what the leader will: with the stored parent token it asks
// the upstream for the ticket and writes it through the store, fenced
// like any write (a ticket taken under the leader's lease). It writes only
// when the stored ticket is missing or about to expire and the upstream
// has a new one, so once tokend fetches tickets itself the stand-in stays
// idle; Writes says how often it wrote.
type ticketStandIn struct {
	Writes atomic.Int64
	stop   func()
}

// startTicketStandIn runs the stand-in for apps (tokend app id -> its
// upstream) until the test ends.
func startTicketStandIn(t *testing.T, rdb *redis.Client, apps map[string]*wechattest.Server) *ticketStandIn {
	t.Helper()
	st, err := store.New(store.Config{Client: rdb})
	if err != nil {
		t.Fatal(err)
	}
	s := &ticketStandIn{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	s.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(s.stop)
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			for app, up := range apps {
				s.keep(ctx, st, rdb, app, up)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return s
}

// keep writes app's jsapi ticket when the stored one is missing or has
// less than a second left and the upstream hands out another.
func (s *ticketStandIn) keep(ctx context.Context, st *store.Store, rdb *redis.Client, app string, up *wechattest.Server) {
	id := app + ":jsapi"
	cur, err := st.Record(ctx, id)
	if err == nil && cur.Valid() && cur.TTL > time.Second {
		return
	}
	parent, err := st.Record(ctx, app)
	if err != nil || !parent.Valid() {
		return
	}
	ticket, expiresIn, ok := fetchTicket(ctx, up, parent.Token)
	if !ok || (cur.Valid() && ticket == cur.Token) {
		return
	}
	lease := rdb.Get(ctx, st.Keys().Lease()).Val()
	tk, err := st.TakeTicket(ctx, id, lease, 0)
	if err != nil {
		return
	}
	if _, err := st.WriteToken(ctx, store.Write{App: id, Ticket: tk, Token: ticket, ExpiresIn: expiresIn, SafetyMargin: time.Second}); err == nil {
		s.Writes.Add(1)
	}
}

// fetchTicket asks up for the jsapi ticket with tok.
func fetchTicket(ctx context.Context, up *wechattest.Server, tok string) (string, time.Duration, bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.URL+"/cgi-bin/ticket/getticket?type=jsapi&access_token="+url.QueryEscape(tok), nil)
	resp, err := callClient.Do(req)
	if err != nil {
		return "", 0, false
	}
	defer resp.Body.Close()
	var ans struct {
		Errcode   int    `json:"errcode"`
		Ticket    string `json:"ticket"`
		ExpiresIn int64  `json:"expires_in"`
	}
	if json.NewDecoder(resp.Body).Decode(&ans) != nil || ans.Errcode != 0 || ans.Ticket == "" {
		return "", 0, false
	}
	return ans.Ticket, time.Duration(ans.ExpiresIn) * time.Second, true
}
