package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProxy_counts(t *testing.T) {
	m := New()
	m.Proxy().Proxied("mp", "cgi-bin/message", "retried", time.Millisecond)
	m.Proxy().Proxied("mp", "cgi-bin/message", "retried", time.Millisecond) // a second Proxy() shares the series
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	want := `tokend_proxy_requests_total{app="mp",outcome="retried",prefix="cgi-bin/message"} 2`
	if !strings.Contains(string(body), want) || !strings.Contains(string(body), `tokend_proxy_duration_seconds_count{outcome="retried"} 2`) {
		t.Fatalf("metrics lack %s:\n%s", want, body)
	}
}
