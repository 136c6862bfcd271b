// Package fault injects faults into the fake upstream's answers (package
// wechattest): errcodes in the endpoint's platform envelope, HTTP errors,
// delays, raw bodies, with a probability and a count.
//
// An Injector's state is guarded by the Locker given to New (the
// Server's mutex); Apply takes it briefly and never holds it during a
// delay. Delays use real time, because they exist to trip real client
// timeouts: no clock is injected.
package fault

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
)

// Fault makes the server misbehave. The zero value of each field means "do
// not change that aspect"; a Fault with only Delay set slows answers down
// and then answers normally.
type Fault struct {
	// Errcode, if non-zero, is answered in the error envelope of the
	// endpoint's platform (Feishu: {"code","msg"}).
	Errcode int
	// Errmsg is the errmsg for Errcode. Default: the platform's text for
	// the code.
	Errmsg string
	// Probability is the chance that a matching request is affected, in
	// (0, 1]. Default 0: always.
	Probability float64
	// HTTPStatus is the status of the answer. Default 200. With no Errcode
	// and no Body, a non-zero status is answered with an HTML error page,
	// like a proxy in front of WeChat.
	HTTPStatus int
	// Delay holds the answer back, in real time (it exists to trip real
	// client timeouts). It ends early if the client goes away or the server
	// is closed.
	Delay time.Duration
	// Body is a raw body sent instead of any answer: HTML, malformed or
	// oversized JSON, a token of the wrong shape...
	Body string
	// ContentType of Body. Default: text/html for a body starting with "<",
	// else the platform's JSON content type.
	ContentType string
	// Remaining is the number of answers to affect; the fault clears itself
	// after them. Default 0: until ClearFault.
	Remaining int
	// Endpoint selects the requests affected: "" every token endpoint
	// (WeChat classic and stable, WeCom, Feishu, DingTalk), or one of
	// Endpoints().
	Endpoint string
}

// Injector holds the active fault.
type Injector struct {
	mu      sync.Locker // guards fault and rng
	fault   *Fault      // active fault, nil if none
	rng     *rand.Rand
	done    <-chan struct{} // closed when the fake closes: ends delays
	applied func()          // called under mu for each request a fault applies to
}

// New returns an injector with no fault, guarded by mu; seed decides
// Fault.Probability, done ends delays, applied counts applied faults.
func New(mu sync.Locker, seed uint64, done <-chan struct{}, applied func()) *Injector {
	return &Injector{
		mu:      mu,
		rng:     rand.New(rand.NewPCG(seed, seed>>1^0x9e3779b97f4a7c15)),
		done:    done,
		applied: applied,
	}
}

// Set installs f, replacing any fault in place.
func (in *Injector) Set(f Fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.fault = &f
}

// Clear removes the fault in place, if any.
func (in *Injector) Clear() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.fault = nil
}

// take returns the fault to apply to a request of endpoint (a token
// endpoint if token), if any, and spends one of its Remaining answers.
func (in *Injector) take(endpoint string, token bool) (Fault, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	f := in.fault
	if f == nil {
		return Fault{}, false
	}
	if f.Endpoint == "" && !token || f.Endpoint != "" && f.Endpoint != endpoint {
		return Fault{}, false
	}
	if f.Probability > 0 && in.rng.Float64() >= f.Probability {
		return Fault{}, false
	}
	if f.Remaining > 0 {
		f.Remaining--
		if f.Remaining == 0 {
			in.fault = nil
		}
	}
	in.applied()
	return *f, true
}

// Apply applies the fault for endpoint (a token endpoint if token, of
// platform p), if any. It reports whether the request has been answered
// (or abandoned) and the handler must stop.
func (in *Injector) Apply(w http.ResponseWriter, r *http.Request, endpoint string, token bool, p *envelope.Platform) bool {
	f, ok := in.take(endpoint, token)
	if !ok {
		return false
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		case <-in.done:
			abort(w)
			return true
		}
	}
	switch {
	case f.Body != "":
		ct := f.ContentType
		if ct == "" {
			ct = p.ContentType
			if strings.HasPrefix(strings.TrimSpace(f.Body), "<") {
				ct = "text/html; charset=utf-8"
			}
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(statusOr200(f.HTTPStatus))
		_, _ = w.Write([]byte(f.Body))
	case f.Errcode != 0:
		p.WriteError(w, statusOr200(f.HTTPStatus), f.Errcode, f.Errmsg)
	case f.HTTPStatus != 0:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(f.HTTPStatus)
		text := fmt.Sprintf("%d %s", f.HTTPStatus, http.StatusText(f.HTTPStatus))
		fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n</body>\r\n</html>\r\n", text, text)
	default:
		return false // only a delay: answer normally
	}
	return true
}

// abort drops the connection without an answer, so the client sees a
// failure rather than an empty 200.
func abort(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
	}
}

func statusOr200(code int) int {
	if code == 0 {
		return http.StatusOK
	}
	return code
}
