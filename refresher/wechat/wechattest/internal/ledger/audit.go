package ledger

import "maps"

// Audit counts what the server saw. Map keys name an app by its key (a
// WeChat appid, WeComKey, FeishuKey, DingTalkKey; WeComCorpKey for a WeCom
// corp's jsapi ticket) and what was done, "key/what"; Errors is keyed by
// endpoint name (see Endpoints).
type Audit struct {
	// Fetches counts successful answers of the token endpoints by app and
	// endpoint family: "appid/token" (classic), "appid/stable_token",
	// "appid/stable_token_force" (force_refresh calls), and "key/token"
	// for WeCom, Feishu and DingTalk apps.
	Fetches map[string]int `json:"fetches"`
	// TotalFetches is the sum of Fetches.
	TotalFetches int `json:"total_fetches"`
	// Issued counts new tokens minted by app and family ("key/token",
	// "appid/stable_token"), including out-of-band rotations.
	Issued map[string]int `json:"issued"`
	// OutOfBand counts rotations done through the test hooks: "key/token"
	// (Rotate, RotateWeCom, RotateFeishu, RotateDingTalk),
	// "appid/stable_token" (RotateStable) and "owner/kind" (RotateTicket).
	OutOfBand map[string]int `json:"out_of_band"`
	// Errors counts errcodes answered by the token endpoints and the
	// ticket endpoints' own refusals (hourly limits, bad type), keyed
	// "endpoint/errcode" (e.g. "token/45009",
	// "wecom/get_jsapi_ticket/45009"); injected faults and refused tokens
	// (counted below) excluded.
	Errors map[string]int `json:"errors"`
	// Tickets counts successful ticket answers by calling app and kind,
	// "key/kind" (for WeCom jsapi too: the app that asked, not the corp).
	Tickets map[string]int `json:"tickets"`
	// TicketsIssued counts new tickets minted by owner and kind,
	// "owner/kind", including out-of-band rotations.
	TicketsIssued map[string]int `json:"tickets_issued"`
	// Probes counts successful probe calls (getcallbackip,
	// get_api_domain_ip, outbound_ip, user/count) by app and endpoint,
	// "key/endpoint".
	Probes map[string]int `json:"probes"`
	// Passthrough counts successful pass-through API calls
	// (internal/passthrough) by app and endpoint, "key/endpoint".
	Passthrough map[string]int `json:"passthrough"`
	// Requests counts every request received but the test hooks', of
	// any path, answered or not.
	Requests int `json:"requests"`
	// Faults counts requests a Fault applied to.
	Faults int `json:"faults"`
	// Outcomes of protected calls (probes and ticket calls, every
	// platform) by the state of the token presented: valid, superseded,
	// force-refreshed or rotated away (40001 on WeChat), expired (42001),
	// never issued or of another platform (40014), missing (41001).
	Valid      int `json:"valid"`
	Superseded int `json:"superseded"`
	Expired    int `json:"expired"`
	Unknown    int `json:"unknown"`
	Missing    int `json:"missing"`
}

func newAudit() Audit {
	return Audit{
		Fetches:       make(map[string]int),
		Issued:        make(map[string]int),
		OutOfBand:     make(map[string]int),
		Errors:        make(map[string]int),
		Tickets:       make(map[string]int),
		TicketsIssued: make(map[string]int),
		Probes:        make(map[string]int),
		Passthrough:   make(map[string]int),
	}
}

// Clone returns a deep copy of a.
func (a Audit) Clone() Audit {
	a.Fetches = maps.Clone(a.Fetches)
	a.Issued = maps.Clone(a.Issued)
	a.OutOfBand = maps.Clone(a.OutOfBand)
	a.Errors = maps.Clone(a.Errors)
	a.Tickets = maps.Clone(a.Tickets)
	a.TicketsIssued = maps.Clone(a.TicketsIssued)
	a.Probes = maps.Clone(a.Probes)
	a.Passthrough = maps.Clone(a.Passthrough)
	return a
}

// CountCall records the outcome of a protected call: the state of the
// token presented.
func (a *Audit) CountCall(code int) {
	switch code {
	case CodeOK:
		a.Valid++
	case CodeNotLatest:
		a.Superseded++
	case CodeExpired:
		a.Expired++
	case CodeIllegal:
		a.Unknown++
	case CodeMissing:
		a.Missing++
	}
}

// CountFetch records a successful token answer for the app with key in
// family.
func (a *Audit) CountFetch(key, family string) {
	a.Fetches[key+"/"+family]++
	a.TotalFetches++
}
