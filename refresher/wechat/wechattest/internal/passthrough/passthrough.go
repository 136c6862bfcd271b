// Package passthrough serves the fake upstream's (package wechattest)
// pass-through APIs, for proxy mode's tests: ordinary business calls that
// need a valid token and check it as the protected calls do (a
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
//
// The handlers hold no state and are safe for concurrent use; checking
// the token and counting the call is the caller's Auth.
package passthrough

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
	"time"

	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/envelope"
)

// Endpoint names, keys of Audit.Passthrough.
const (
	CustomSend = "message/custom/send"
	UserInfo   = "user/info"
	MediaGet   = "media/get"
	MediaPut   = "media/upload"
	// maxMedia bounds a media download or upload.
	maxMedia = 256 << 20
)

// Auth checks the request's access_token for endpoint as the platform of
// the token does, counting a valid call; it answers a refusal itself and
// returns the platform to answer in and whether the call may go on.
type Auth func(w http.ResponseWriter, r *http.Request, endpoint string) (*envelope.Platform, bool)

type handlers struct {
	auth Auth
	now  func() time.Time
}

// Routes serves the pass-through APIs on mux; auth checks tokens, now
// tells the time.
func Routes(mux *http.ServeMux, auth Auth, now func() time.Time) {
	h := &handlers{auth: auth, now: now}
	mux.HandleFunc("POST /cgi-bin/message/custom/send", h.handleCustomSend)
	mux.HandleFunc("GET /cgi-bin/user/info", h.handleUserInfo)
	mux.HandleFunc("GET /cgi-bin/media/get", h.handleMediaGet)
	mux.HandleFunc("POST /cgi-bin/media/upload", h.handleMediaUpload)
}

func (h *handlers) handleCustomSend(w http.ResponseWriter, r *http.Request) {
	p, ok := h.auth(w, r, CustomSend)
	if !ok {
		return
	}
	var msg map[string]any
	if err := envelope.Decode(r, &msg); err != nil {
		p.Fail(w, 47001)
		return
	}
	p.WriteJSON(w, http.StatusOK, envelope.OK(map[string]any{}))
}

func (h *handlers) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	p, ok := h.auth(w, r, UserInfo)
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

func (h *handlers) handleMediaGet(w http.ResponseWriter, r *http.Request) {
	p, ok := h.auth(w, r, MediaGet)
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

func (h *handlers) handleMediaUpload(w http.ResponseWriter, r *http.Request) {
	p, ok := h.auth(w, r, MediaPut)
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
			"type": kind, "media_id": "up-" + sum[:16], "created_at": h.now().Unix(), "size": n, "sha256": sum,
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
