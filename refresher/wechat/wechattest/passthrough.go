package wechattest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/hooks"
)

// The pass-through APIs, for proxy mode's tests: ordinary business calls
// that need a valid token and check it as the protected calls do (a
// superseded or rotated token 40001, an expired one 42001, one never
// issued 40014, none 41001; WeCom tokens in WeCom's envelope). A
// successful call counts in Audit.Passthrough as "key/endpoint".
//
//	POST /cgi-bin/message/custom/send?access_token=T   a JSON object body; {"errcode":0,"errmsg":"ok"}
//	GET  /cgi-bin/user/info?access_token=T&openid=O    {"subscribe":1,"openid":O,"nickname":"fake user"}
//	GET  /cgi-bin/media/get?access_token=T&media_id=M  M is MediaID(n): n bytes of MediaReader(n)
//	POST /cgi-bin/media/upload?access_token=T&type=K   multipart field "media": {"type","media_id","size","sha256"}
//
// Not reproduced: what the real calls do (nobody gets a message), their
// quotas and their other errors.
const (
	epCustomSend = "message/custom/send"
	epUserInfo   = "user/info"
	epMediaGet   = "media/get"
	epMediaPut   = "media/upload"
	// maxMedia bounds a media download or upload.
	maxMedia = 256 << 20
)

func (s *Server) passthroughRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /cgi-bin/message/custom/send", s.handleCustomSend)
	mux.HandleFunc("GET /cgi-bin/user/info", s.handleUserInfo)
	mux.HandleFunc("GET /cgi-bin/media/get", s.handleMediaGet)
	mux.HandleFunc("POST /cgi-bin/media/upload", s.handleMediaUpload)
}

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

func (s *Server) handleCustomSend(w http.ResponseWriter, r *http.Request) {
	p, ok := s.passthroughAuth(w, r, epCustomSend)
	if !ok {
		return
	}
	var msg map[string]any
	if err := envelope.Decode(r, &msg); err != nil {
		p.Fail(w, 47001)
		return
	}
	p.WriteJSON(w, http.StatusOK, okBody(map[string]any{}))
}

func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	p, ok := s.passthroughAuth(w, r, epUserInfo)
	if !ok {
		return
	}
	openid := r.URL.Query().Get("openid")
	if openid == "" {
		p.WriteError(w, http.StatusOK, 40003, "invalid openid")
		return
	}
	p.WriteJSON(w, http.StatusOK, map[string]any{"subscribe": 1, "openid": openid, "nickname": "fake user", "language": "zh_CN"})
}

// MediaID names a media file of size bytes for GET /cgi-bin/media/get.
func MediaID(size int64) string { return "size-" + strconv.FormatInt(size, 10) }

// MediaReader returns the size bytes the fake serves for MediaID(size):
// a deterministic sequence without short repeats.
func MediaReader(size int64) io.Reader { return io.LimitReader(&mediaBytes{}, size) }

// mediaBytes is an endless deterministic byte sequence (an xorshift
// generator with a fixed seed).
type mediaBytes struct{ x uint64 }

func (m *mediaBytes) Read(b []byte) (int, error) {
	if m.x == 0 {
		m.x = 0x9e3779b97f4a7c15
	}
	for i := range b {
		m.x ^= m.x << 13
		m.x ^= m.x >> 7
		m.x ^= m.x << 17
		b[i] = byte(m.x >> 32)
	}
	return len(b), nil
}

func (s *Server) handleMediaGet(w http.ResponseWriter, r *http.Request) {
	p, ok := s.passthroughAuth(w, r, epMediaGet)
	if !ok {
		return
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Query().Get("media_id"), "size-"), 10, 64)
	if err != nil || n < 0 || n > maxMedia || !strings.HasPrefix(r.URL.Query().Get("media_id"), "size-") {
		p.WriteError(w, http.StatusOK, 40007, "invalid media_id")
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Disposition", `attachment; filename="`+MediaID(n)+`.jpg"`)
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, MediaReader(n))
}

func (s *Server) handleMediaUpload(w http.ResponseWriter, r *http.Request) {
	p, ok := s.passthroughAuth(w, r, epMediaPut)
	if !ok {
		return
	}
	kind := r.URL.Query().Get("type")
	sum, n, err := mediaPart(r)
	switch {
	case kind == "":
		p.WriteError(w, http.StatusOK, 40004, "invalid media type")
	case err != nil:
		p.WriteError(w, http.StatusOK, 41005, "media data missing: "+err.Error())
	default:
		p.WriteJSON(w, http.StatusOK, map[string]any{
			"type": kind, "media_id": "up-" + sum[:16], "created_at": s.now().Unix(), "size": n, "sha256": sum,
		})
	}
}

// mediaPart streams the multipart field "media" of r through SHA-256:
// its hex digest and size.
func mediaPart(r *http.Request) (string, int64, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return "", 0, errors.New("want multipart/form-data")
	}
	mr := multipart.NewReader(io.LimitReader(r.Body, maxMedia+1<<20), params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			return "", 0, errors.New("no media part")
		}
		if part.FormName() != "media" {
			continue
		}
		h := sha256.New()
		n, err := io.Copy(h, part)
		if err != nil {
			return "", 0, errors.New("unreadable media part")
		}
		return hex.EncodeToString(h.Sum(nil)), n, nil
	}
}
