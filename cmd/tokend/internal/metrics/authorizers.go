package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokend/tokend/refresher/openplatform/keeper"
)

// AuthorizerMetrics counts what the Open Platform keepers do
// (keeper.Observer): labelled by component, credential kind
// ("token", "jsapi", "wx_card") and outcome words, never by authorizer
// appid (a component has thousands) and never a token. Leader-only: the
// gauges read 0 on a replica that does not lead. Safe for concurrent use.
type AuthorizerMetrics struct {
	states    *prometheus.GaugeVec
	tickets   *prometheus.GaugeVec
	refreshes *prometheus.CounterVec
	reports   *prometheus.CounterVec
}

// Authorizers returns the keepers' collectors, registered on m's registry
// on the first call; later calls count in the same series.
func (m *Metrics) Authorizers() *AuthorizerMetrics {
	a := &AuthorizerMetrics{
		states: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokend_authorizers", Help: "Open Platform authorizers the leader keeps, by component and state (valid, expired, failing, needs_reauthorization).",
		}, []string{"component", "state"}),
		tickets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokend_authorizer_tickets", Help: "Authorizer tickets the leader keeps, by component and state (valid, expired).",
		}, []string{"component", "state"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_authorizer_refreshes_total", Help: "Authorizer token and ticket fetches by component, kind (token, jsapi, wx_card) and outcome.",
		}, []string{"component", "kind", "outcome"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_authorizer_reports_total", Help: "Reports of authorizer tokens looked at, by component and outcome (refresh, stale, cooldown, ignored).",
		}, []string{"component", "outcome"}),
	}
	a.states = registerOrExisting(m.reg, a.states)
	a.tickets = registerOrExisting(m.reg, a.tickets)
	a.refreshes = registerOrExisting(m.reg, a.refreshes)
	a.reports = registerOrExisting(m.reg, a.reports)
	return a
}

// AuthorizerRefreshed implements keeper.Observer.
func (a *AuthorizerMetrics) AuthorizerRefreshed(component, kind, outcome string) {
	a.refreshes.WithLabelValues(component, kind, outcome).Inc()
}

// AuthorizerReport implements keeper.Observer.
func (a *AuthorizerMetrics) AuthorizerReport(component, outcome string) {
	a.reports.WithLabelValues(component, outcome).Inc()
}

// AuthorizerStates implements keeper.Observer.
func (a *AuthorizerMetrics) AuthorizerStates(component string, s keeper.Summary) {
	expired := max(s.Total-s.Valid-s.Failing-s.NeedsReauthorization, 0)
	for state, n := range map[string]int{"valid": s.Valid, "expired": expired, "failing": s.Failing, "needs_reauthorization": s.NeedsReauthorization} {
		a.states.WithLabelValues(component, state).Set(float64(n))
	}
	a.tickets.WithLabelValues(component, "valid").Set(float64(s.TicketsValid))
	a.tickets.WithLabelValues(component, "expired").Set(float64(s.Tickets - s.TicketsValid))
}
