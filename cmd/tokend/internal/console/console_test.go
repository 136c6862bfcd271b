package console

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// fakeSource answers the console from fields a test sets.
type fakeSource struct {
	allow     bool
	status    Status
	statusErr error
	events    []Event
	note      string
}

func (f fakeSource) Authorize(r *http.Request) (context.Context, bool) { return r.Context(), f.allow }
func (f fakeSource) Status(context.Context) (Status, error)            { return f.status, f.statusErr }
func (f fakeSource) Audit(context.Context, int) ([]Event, string, error) {
	return f.events, f.note, nil
}

func page(t *testing.T, src Source) string {
	t.Helper()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	h, err := New(Config{Source: src, Replica: "r7", Clock: clocktesting.NewFakePassiveClock(now)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /ui/: %d", rec.Code)
	}
	return rec.Body.String()
}

// TestHandler_source: the page carries the Source's state only when
// Authorize passes and Status answers; else it is the empty page.
func TestHandler_source(t *testing.T) {
	exp := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	fetched := exp.Add(-2 * time.Hour)
	st := Status{LeaderID: "r7", Creds: []Cred{{ID: "mp-main", Provider: "wechat", Kind: "token", Valid: true,
		ExpiresAt: &exp, FetchedAt: &fetched, Fingerprint: "8c448e30"}}}
	ev := []Event{{ID: "1-0", App: "mp-main", Provider: "wechat", Action: "refresh", Outcome: "config", Errcode: 40164}}
	ready := `data-state="ready" data-rendered="server"`
	if body := page(t, fakeSource{allow: true, status: st, events: ev}); !strings.Contains(body, ready) ||
		!strings.Contains(body, `<tr data-credential="mp-main">`) || !strings.Contains(body, "1h 00m left (50%)") ||
		!strings.Contains(body, `href="/ui/errcodes#wechat-40164"`) || !strings.Contains(body, `<strong id="served-by">r7</strong>`) {
		t.Errorf("authorized page lacks the state:\n%s", body)
	}
	for name, src := range map[string]fakeSource{
		"not authorized": {allow: false, status: st},
		"status failed":  {allow: true, statusErr: errors.New("redis down")},
	} {
		if body := page(t, src); strings.Contains(body, ready) || strings.Contains(body, "mp-main") {
			t.Errorf("%s: page carries state", name)
		}
	}
}

func TestNew_needsSource(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without Source: no error")
	}
}
