package wechattest

import (
	"maps"
	"net/http"
	"slices"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/fault"
)

// Fault makes the server misbehave: Errcode (answered in the endpoint's
// platform envelope) with Errmsg, Probability, HTTPStatus (alone: an HTML
// error page), Delay (real time), a raw Body with its ContentType,
// Remaining answers to affect (0: until ClearFault), and the Endpoint
// affected ("": every token endpoint). The zero value of each field means
// "do not change that aspect"; see internal/fault for each field.
type Fault = fault.Fault

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
func (s *Server) SetFault(f Fault) { s.faults.Set(f) }

// ClearFault removes the fault in place, if any.
func (s *Server) ClearFault() { s.faults.Clear() }

// applyFault applies the fault for endpoint, if any. It reports whether the
// request has been answered (or abandoned) and the handler must stop.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, endpoint string) bool {
	e := s.endpoints[endpoint]
	return s.faults.Apply(w, r, endpoint, e.token, e.platform)
}
