package wechattest

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
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

// Endpoints lists the endpoint names a Fault can select, sorted: WeChat's
// "token", "stable_token", "getcallbackip", "getticket", "clear_quota",
// and "wecom/gettoken", "wecom/get_jsapi_ticket", "wecom/ticket/get",
// "wecom/get_api_domain_ip", "feishu/tenant_access_token",
// "feishu/outbound_ip", "dingtalk/gettoken", "dingtalk/get_jsapi_ticket",
// "dingtalk/user/count". The audit uses the same names.
func (s *Server) Endpoints() []string {
	return slices.Sorted(maps.Keys(s.endpoints))
}

// SetFault installs f, replacing any fault in place.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = &f
}

// ClearFault removes the fault in place, if any.
func (s *Server) ClearFault() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = nil
}

// takeFault returns the fault to apply to a request of endpoint, if any,
// and spends one of its Remaining answers.
func (s *Server) takeFault(endpoint string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault
	if f == nil {
		return Fault{}, false
	}
	if f.Endpoint == "" && !s.endpoints[endpoint].token ||
		f.Endpoint != "" && f.Endpoint != endpoint {
		return Fault{}, false
	}
	if f.Probability > 0 && s.rng.Float64() >= f.Probability {
		return Fault{}, false
	}
	if f.Remaining > 0 {
		f.Remaining--
		if f.Remaining == 0 {
			s.fault = nil
		}
	}
	s.audit.Faults++
	return *f, true
}

// applyFault applies the fault for endpoint, if any. It reports whether the
// request has been answered (or abandoned) and the handler must stop.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, endpoint string) bool {
	f, ok := s.takeFault(endpoint)
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
		case <-s.done:
			abort(w)
			return true
		}
	}
	p := s.endpoints[endpoint].platform
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
