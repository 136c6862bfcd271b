package wechattest

import "github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"

// Audit counts what the server saw (see ledger.Audit for each counter).
// Map keys name an app by its key (a WeChat appid, WeComKey, FeishuKey,
// DingTalkKey; WeComCorpKey for a WeCom corp's jsapi ticket) and what was
// done, "key/what"; Errors is keyed by endpoint name (see Endpoints).
type Audit = ledger.Audit

// Audit returns a copy of the counters.
func (s *Server) Audit() Audit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.audit.Clone()
}

// countCallLocked records the outcome of a protected call.
func (s *Server) countCallLocked(code int) { s.audit.CountCall(code) }

func (s *Server) countFetchLocked(key, family string) { s.audit.CountFetch(key, family) }
