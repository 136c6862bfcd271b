package components_test

import (
	"testing"

	"github.com/tokend/tokend/cmd/tokend/internal/httpapi"
	"github.com/tokend/tokend/store/platform"
)

// TestAPI_authorizerTicket: an authorizer's ticket of a kind its
// component keeps is served in the app ticket route's shape; an unknown
// component, a kind not kept or a bad appid are 4xx JSON, a missing
// ticket 503.
func TestAPI_authorizerTicket(t *testing.T) {
	e := newEnv(t, []httpapi.App{
		{ID: "op", Provider: httpapi.ComponentProvider, AuthorizerTickets: []string{"jsapi"}},
		{ID: "mp-main", Provider: "wechat", Tickets: []string{"jsapi"}},
	}, nil)
	e.writeToken(t, platform.AuthorizerTicketID("op", "wxa", "jsapi"), "ticket-a")
	r := e.do(t, "GET", "/v1/components/op/authorizers/wxa/tickets/jsapi", "k", "")
	if r.code != 200 || r.body["ticket"] != "ticket-a" || r.body["expires_in"].(float64) < 7000 {
		t.Fatalf("ticket: %d %s", r.code, r.raw)
	}
	for path, code := range map[string]int{
		"/v1/components/op/authorizers/wxa/tickets/wx_card":    404, // kind not kept
		"/v1/components/mp-main/authorizers/wxa/tickets/jsapi": 404, // an app, not a component
		"/v1/components/nope/authorizers/wxa/tickets/jsapi":    404,
		"/v1/components/op/authorizers/wx%20a/tickets/jsapi":   400,
		"/v1/components/op/authorizers/wxother/tickets/jsapi":  503, // none stored
	} {
		if r := e.do(t, "GET", path, "k", ""); r.code != code || r.body["error"] == nil {
			t.Errorf("%s: %d %s, want %d with an error", path, r.code, r.raw, code)
		}
	}
	if r := e.do(t, "GET", "/v1/components/op/authorizers/wxa/tickets/jsapi", "", ""); r.code != 401 {
		t.Errorf("without a key: %d", r.code)
	}
}

// TestAPI_authorizerRefresh: a report of an authorizer token that is no
// longer current answers the current one at once, recording nothing; a
// report of the current one is recorded under the authorizer's id.
func TestAPI_authorizerRefresh(t *testing.T) {
	e := newEnv(t, []httpapi.App{{ID: "op", Provider: httpapi.ComponentProvider}}, nil)
	id := platform.AuthorizerID("op", "wxa")
	e.writeToken(t, id, "tok-current")
	r := e.do(t, "POST", "/v1/components/op/authorizers/wxa/refresh", "k", `{"invalid_token":"tok-old"}`)
	if r.code != 200 || r.body["access_token"] != "tok-current" || r.body["refreshed"] != false {
		t.Fatalf("stale report: %d %s", r.code, r.raw)
	}
	if r := e.do(t, "POST", "/v1/components/op/authorizers/wxa/refresh", "k", `{"nope":1}`); r.code != 400 {
		t.Fatalf("bad body: %d %s", r.code, r.raw)
	}
	e.do(t, "POST", "/v1/components/op/authorizers/wxa/refresh", "k", `{"invalid_token":"tok-current"}`) // no leader: times out
	if got, _ := e.store.PendingReport(t.Context(), id); got != "tok-current" {
		t.Fatalf("pending report %q, want the current token recorded", got)
	}
}
