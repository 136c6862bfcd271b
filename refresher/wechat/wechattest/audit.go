package wechattest

import "maps"

// Audit counts what the server saw. Keys name an appid and an endpoint,
// "appid/token", "appid/stable_token" or "appid/stable_token_force".
type Audit struct {
	// Fetches counts successful answers of the token endpoints by appid
	// and endpoint; force_refresh calls count under stable_token_force.
	Fetches map[string]int `json:"fetches"`
	// TotalFetches is the sum of Fetches.
	TotalFetches int `json:"total_fetches"`
	// Issued counts new tokens minted by appid and family ("appid/token",
	// "appid/stable_token"), including out-of-band rotations.
	Issued map[string]int `json:"issued"`
	// OutOfBand counts Rotate ("appid/token") and RotateStable
	// ("appid/stable_token") calls.
	OutOfBand map[string]int `json:"out_of_band"`
	// Errors counts errcodes answered by the token endpoints, keyed
	// "endpoint/errcode" (e.g. "token/45009"); injected faults excluded.
	Errors map[string]int `json:"errors"`
	// Tickets counts successful getticket answers, keyed "appid/type".
	Tickets map[string]int `json:"tickets"`
	// Faults counts requests a Fault applied to.
	Faults int `json:"faults"`
	// Outcomes of protected calls (getcallbackip, getticket) by the state
	// of the token presented: valid, superseded or force-refreshed away
	// (40001), expired (42001), never issued (40014), missing (41001).
	Valid      int `json:"valid"`
	Superseded int `json:"superseded"`
	Expired    int `json:"expired"`
	Unknown    int `json:"unknown"`
	Missing    int `json:"missing"`
}

func newAudit() Audit {
	return Audit{
		Fetches:   make(map[string]int),
		Issued:    make(map[string]int),
		OutOfBand: make(map[string]int),
		Errors:    make(map[string]int),
		Tickets:   make(map[string]int),
	}
}

// Audit returns a copy of the counters.
func (s *Server) Audit() Audit {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.audit
	a.Fetches = maps.Clone(a.Fetches)
	a.Issued = maps.Clone(a.Issued)
	a.OutOfBand = maps.Clone(a.OutOfBand)
	a.Errors = maps.Clone(a.Errors)
	a.Tickets = maps.Clone(a.Tickets)
	return a
}

// countCallLocked records the outcome of a protected call.
func (s *Server) countCallLocked(code int) {
	switch code {
	case CodeOK:
		s.audit.Valid++
	case CodeNotLatest:
		s.audit.Superseded++
	case CodeExpired:
		s.audit.Expired++
	case CodeIllegal:
		s.audit.Unknown++
	case CodeMissing:
		s.audit.Missing++
	}
}

func (s *Server) countFetchLocked(appid, key string) {
	s.audit.Fetches[appid+"/"+key]++
	s.audit.TotalFetches++
}
