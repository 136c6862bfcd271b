// Package metrics is tokend's Prometheus registry: the refresher's
// observations (refresher.Observer), corrupt keys the store found and the
// HTTP API's requests. Labels are app ids, result words, errcodes, routes
// and status codes: never tokens or secrets. Leader-only series (expiry,
// budget) are dropped when the replica steps down; nothing is persisted.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics implements refresher.Observer with Prometheus collectors. Safe for
// concurrent use.
type Metrics struct {
	reg        *prometheus.Registry
	leader     prometheus.Gauge
	epoch      prometheus.Gauge
	fetches    *prometheus.CounterVec
	fetchTime  *prometheus.HistogramVec
	expiry     *prometheus.GaugeVec
	reports    *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	budgetUsed *prometheus.GaugeVec
	httpReqs   *prometheus.CounterVec
	corrupt    *prometheus.CounterVec
	probes     *prometheus.CounterVec
	wrongSec   *prometheus.CounterVec
	clientReqs *prometheus.CounterVec // clients.go
}

// New returns Metrics on a registry of its own, with the Go and process
// collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokend_leader", Help: "1 while this replica holds the lease.",
		}),
		epoch: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tokend_leader_epoch", Help: "Term number of this replica's current or last leadership.",
		}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_fetches_total", Help: "Upstream token fetches by app, result (ok, retry, config, quota) and errcode.",
		}, []string{"app", "result", "errcode"}),
		fetchTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tokend_fetch_duration_seconds", Help: "Upstream token fetch latency.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"app"}),
		expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokend_token_expiry_timestamp_seconds", Help: "When the app's stored token expires (unix seconds), as last written by this replica.",
		}, []string{"app"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_refresh_reports_total", Help: "Refresh reports handled by the leader, by outcome (refreshed, unchanged, stale, cooldown).",
		}, []string{"app", "outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_rejected_writes_total", Help: "Token writes rejected because a newer ticket won.",
		}, []string{"app"}),
		budgetUsed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tokend_budget_used", Help: "Fetches taken today from the app's daily budget.",
		}, []string{"app"}),
		httpReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_http_requests_total", Help: "HTTP API requests by route and status code.",
		}, []string{"route", "code"}),
		corrupt: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_corrupt_keys_total", Help: "Keys or fields in Redis that tokend did not write (wrong type, unparsable), by app (empty for shared keys) and whether they were repaired.",
		}, []string{"app", "repaired"}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_probes_total", Help: "Probes of stored tokens by the leader, by app and outcome (ok, rejected: reported for a refresh, failed: the probe itself failed).",
		}, []string{"app", "outcome"}),
		wrongSec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_compat_wrong_secret_total", Help: "WeChat-shaped token requests with a wrong secret, by app.",
		}, []string{"app"}),
		clientReqs: newClientRequests(),
	}
	m.reg.MustRegister(m.clientReqs, m.leader, m.epoch, m.fetches, m.fetchTime, m.expiry, m.reports, m.rejected, m.budgetUsed, m.httpReqs, m.corrupt, m.probes, m.wrongSec,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) Fetched(app, result string, code int, took time.Duration) {
	m.fetches.WithLabelValues(app, result, strconv.Itoa(code)).Inc()
	m.fetchTime.WithLabelValues(app).Observe(took.Seconds())
}

func (m *Metrics) Written(app string, expiresAt time.Time, budgetUsed int) {
	m.expiry.WithLabelValues(app).Set(float64(expiresAt.Unix()))
	m.budgetUsed.WithLabelValues(app).Set(float64(budgetUsed))
}

// Corrupt counts a corrupt key found by the store.
func (m *Metrics) Corrupt(app string, repaired bool) {
	m.corrupt.WithLabelValues(app, strconv.FormatBool(repaired)).Inc()
}

func (m *Metrics) RejectedWrite(app string) { m.rejected.WithLabelValues(app).Inc() }

func (m *Metrics) Report(app, outcome string) { m.reports.WithLabelValues(app, outcome).Inc() }

// Probed counts a probe of app's stored token by outcome.
func (m *Metrics) Probed(app, outcome string) { m.probes.WithLabelValues(app, outcome).Inc() }

func (m *Metrics) Leading(leading bool, epoch int64) {
	if leading {
		m.leader.Set(1)
		m.epoch.Set(float64(epoch))
		return
	}
	m.leader.Set(0)
	// Only the leader knows these; a stale series would fire expiry alerts
	// on a replica that stepped down.
	m.expiry.Reset()
	m.budgetUsed.Reset()
}

// Request counts one HTTP API request by route pattern and status code.
func (m *Metrics) Request(route string, code int) {
	m.httpReqs.WithLabelValues(route, strconv.Itoa(code)).Inc()
}

// WrongSecret counts a WeChat-shaped token request for app with a wrong
// secret (never the secret).
func (m *Metrics) WrongSecret(app string) { m.wrongSec.WithLabelValues(app).Inc() }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
