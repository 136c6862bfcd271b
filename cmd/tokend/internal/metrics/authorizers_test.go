package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokend/tokend/refresher/openplatform/keeper"
)

// TestAuthorizers_counts: the keeper's observations become series per
// component and kind, never per authorizer; gauges follow the last
// counts (zeros when leadership ends).
func TestAuthorizers_counts(t *testing.T) {
	m := New()
	a := m.Authorizers()
	a.AuthorizerRefreshed("op", keeper.KindToken, "ok")
	m.Authorizers().AuthorizerRefreshed("op", keeper.KindToken, "ok") // a second call shares the series
	a.AuthorizerRefreshed("op", "jsapi", "unchanged")
	a.AuthorizerReport("op", "stale")
	a.AuthorizerStates("op", keeper.Summary{Total: 10, Valid: 6, Failing: 1, NeedsReauthorization: 2, Tickets: 10, TicketsValid: 9})
	body := scrape(t, m)
	for _, want := range []string{
		`tokend_authorizer_refreshes_total{component="op",kind="token",outcome="ok"} 2`,
		`tokend_authorizer_refreshes_total{component="op",kind="jsapi",outcome="unchanged"} 1`,
		`tokend_authorizer_reports_total{component="op",outcome="stale"} 1`,
		`tokend_authorizers{component="op",state="valid"} 6`,
		`tokend_authorizers{component="op",state="expired"} 1`,
		`tokend_authorizers{component="op",state="failing"} 1`,
		`tokend_authorizers{component="op",state="needs_reauthorization"} 2`,
		`tokend_authorizer_tickets{component="op",state="valid"} 9`,
		`tokend_authorizer_tickets{component="op",state="expired"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	a.AuthorizerStates("op", keeper.Summary{})
	if body := scrape(t, m); !strings.Contains(body, `tokend_authorizers{component="op",state="valid"} 0`) {
		t.Errorf("gauges not zeroed:\n%s", body)
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
