package metrics

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ProxyMetrics counts proxy mode's requests (package proxy): by app
// ("" before the app is known), path label (a bounded set: the allowed
// prefixes, /cgi-bin/ by its known second segments, "other") and outcome
// (forwarded, retried, rejected_local, upstream_error, busy). Never a
// token, a query or a full path. Safe for concurrent use.
type ProxyMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// Proxy returns the proxy's collectors, registered on m's registry on the
// first call; later calls return collectors counting in the same series.
func (m *Metrics) Proxy() *ProxyMetrics {
	p := &ProxyMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokend_proxy_requests_total", Help: "Proxy mode requests by app, path prefix and outcome (forwarded, retried, rejected_local, upstream_error, busy).",
		}, []string{"app", "prefix", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tokend_proxy_duration_seconds", Help: "Proxy mode request duration, body transfer included, by outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"outcome"}),
	}
	p.requests = registerOrExisting(m.reg, p.requests)
	p.duration = registerOrExisting(m.reg, p.duration)
	return p
}

// registerOrExisting registers c, or returns the collector already
// registered under its descriptor.
func registerOrExisting[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	var are prometheus.AlreadyRegisteredError
	if err := reg.Register(c); errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	return c
}

// Proxied counts one finished proxy request (proxy.Config.Observe).
func (p *ProxyMetrics) Proxied(app, prefix, outcome string, took time.Duration) {
	p.requests.WithLabelValues(app, prefix, outcome).Inc()
	p.duration.WithLabelValues(outcome).Observe(took.Seconds())
}
