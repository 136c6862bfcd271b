package wechattest

import (
	"net/http"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/platforms"
)

// maxRequestBody bounds POST bodies read by the fake.
const maxRequestBody = envelope.MaxRequestBody

// writeJSON answers v as WeChat does.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	s.platforms[PlatformWeChat].WriteJSON(w, status, v)
}

// writeError answers WeChat's error envelope; msg defaults to WeChat's text.
func (s *Server) writeError(w http.ResponseWriter, status, code int, msg string) {
	s.platforms[PlatformWeChat].WriteError(w, status, code, msg)
}

// answer answers ans, or errcode code in WeChat's envelope if it is not 0.
func (s *Server) answer(w http.ResponseWriter, ans any, code int) {
	s.platforms[PlatformWeChat].Answer(w, ans, code)
}

// decodeBody decodes the JSON body of r into b, or answers 47001.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, b any) bool {
	if err := envelope.Decode(r, b); err != nil {
		s.writeError(w, http.StatusOK, 47001, "")
		return false
	}
	return true
}

// tokenAnswer is the success body of WeChat's token endpoints.
type tokenAnswer = platforms.TokenAnswer
