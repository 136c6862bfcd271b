package metrics

import "github.com/prometheus/client_golang/prometheus"

// newClientRequests is tokend_client_requests_total: requests decided by
// the clients' scopes, by client name (config; "unknown" for a key no
// client holds or none), action and outcome. Never a key.
func newClientRequests() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokend_client_requests_total",
		Help: "Requests checked against the clients' scopes, by client (unknown: no client's key), action and outcome (allowed, denied, limited).",
	}, []string{"client", "action", "outcome"})
}

// ClientRequest counts one decision on a client's request.
func (m *Metrics) ClientRequest(client, action, outcome string) {
	if client == "" {
		client = "unknown"
	}
	m.clientReqs.WithLabelValues(client, action, outcome).Inc()
}
