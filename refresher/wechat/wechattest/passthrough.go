package wechattest

import (
	"io"
	"net/http"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/hooks"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/passthrough"
)

// The pass-through APIs, for proxy mode's tests, are served by
// internal/passthrough: ordinary business calls that need a valid token
// and check it as the protected calls do. A successful call counts in
// Audit.Passthrough as "key/endpoint".

func (s *Server) passthroughRoutes(mux *http.ServeMux) {
	passthrough.Routes(mux, s.passthroughAuth, s.now)
}

// MediaID names a media file of size bytes for GET /cgi-bin/media/get.
func MediaID(size int64) string { return passthrough.MediaID(size) }

// MediaReader returns the size bytes the fake serves for MediaID(size):
// a deterministic sequence without short repeats.
func MediaReader(size int64) io.Reader { return passthrough.MediaReader(size) }

// countRequests counts every request but the test hooks' in
// Audit.Requests, whatever its path, before next serves it.
func (s *Server) countRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hooks.Paths[r.URL.Path] {
			s.mu.Lock()
			s.audit.Requests++
			s.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// passthroughAuth checks the request's access_token as the platform of
// the token (WeChat, or WeCom for a WeCom token) does, answering the
// refusal itself; it returns that platform and whether the call may go
// on.
func (s *Server) passthroughAuth(w http.ResponseWriter, r *http.Request, ep string) (*platform, bool) {
	tok := r.URL.Query().Get("access_token")
	s.mu.Lock()
	p := s.platforms[PlatformWeChat]
	if t, ok := s.books.Token(tok); ok && t.Platform == PlatformWeCom {
		p = s.platforms[PlatformWeCom]
	}
	s.mu.Unlock()
	return p, s.authorizeCounted(w, p, tok, func(owner string) { s.audit.Passthrough[owner+"/"+ep]++ })
}

// authorizeCounted checks tok as a protected endpoint of p does, counting
// a valid call with count (under the lock); it answers a refusal itself
// and reports whether the call may go on.
func (s *Server) authorizeCounted(w http.ResponseWriter, p *platform, tok string, count func(owner string)) bool {
	s.mu.Lock()
	owner, state := s.authorizeLocked(s.now(), p.Name, tok)
	if state == CodeOK {
		count(owner)
	}
	s.mu.Unlock()
	if state != CodeOK {
		p.Reject(w, state)
		return false
	}
	return true
}
