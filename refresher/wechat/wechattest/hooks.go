package wechattest

import (
	"net/http"
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/hooks"
)

// The test hooks (the Go API over HTTP, for tests in other processes such
// as wxsim) are served by internal/hooks, whose package comment lists
// them.
func (s *Server) hookRoutes(mux *http.ServeMux) {
	hooks.Routes(mux, hookFake{s}, s.platforms[PlatformWeChat])
}

// hookFake adapts the Server to hooks.Fake.
type hookFake struct{ *Server }

// RotateKey rotates the token of the app with key out of band: a held
// token of WeCom, Feishu or DingTalk, else a WeChat classic token.
func (f hookFake) RotateKey(key string) string {
	if tok := f.rotateHeld(key); tok != "" {
		return tok
	}
	return f.Rotate(key)
}

// Lifetimes are the configured token and ticket lifetimes.
func (f hookFake) Lifetimes() (token, ticket time.Duration) {
	return f.cfg.Lifetime, f.cfg.TicketLifetime
}
