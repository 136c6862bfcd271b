// Package callback serves the Open Platform's push URL ("authorization
// event URL"), POST /callback/components/{id}, on every replica: WeChat
// pushes the component_verify_ticket there every 10 minutes, and the
// authorization events. The route has no bearer auth: the message
// signature is the authentication.
//
// A push is checked (encrypt_type aes, body size, msg_signature in
// constant time, AES decryption, the appid inside the ciphertext and in
// the message) before anything is stored; any failure answers 4xx with a
// short plain-text reason and stores nothing. A verify ticket is stored
// through the Store (a newer CreateTime wins, so a repeated or late push
// changes nothing) within Config.Timeout, well inside WeChat's 5 s; then
// the answer is the plain text "success".
//
// Authorization events (authorize.go): authorized and updateauthorized
// exchange the AuthorizationCode with api_query_auth (with the component
// token stored in Redis) and store the authorizer and its refresh token;
// unauthorized removes the authorizer and its credentials. Both within
// Config.Timeout, answered "success" even when they fail (logged and
// audited): WeChat's retries of a push would fail the same way.
// A code is exchanged once for its two deliveries (the push and the
// redirect, Handler.Authorize): see codes.go.
//
// What it does NOT do: store the first access token api_query_auth
// returns (a token write needs the leader's fence: the leader fetches one
// at once, woken by the stored authorizer, costing one more call), keep
// an authorization that arrived while no component token was valid (it is
// logged and audited; the authorizer is found again by the next list
// rebuild or a new authorization), or check that a timestamp is recent
// (WeChat's own retries of a push reuse it; the CreateTime rule makes
// replays harmless for verify tickets).
package callback

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tokend/tokend/refresher/wechat/msgcrypt"
	"github.com/tokend/tokend/store"
	"github.com/tokend/tokend/store/fleet"
	"github.com/tokend/tokend/store/platform"
)

// Route is the pattern the handler serves.
const Route = "POST /callback/components/{id}"

// DefaultTimeout bounds the store write of one push.
const DefaultTimeout = 3 * time.Second

// maxBody bounds a push body: the encrypted message plus its XML wrapper.
const maxBody = msgcrypt.MaxEncryptedLen + 4096

// Component is one configured Open Platform component.
type Component struct {
	ID    string // tokend's component id (the {id} of the route)
	AppID string // the component appid
	// Crypt verifies and decrypts its pushes (token, EncodingAESKey,
	// appid).
	Crypt *msgcrypt.Crypt
	// Auth exchanges the authorization code of an authorized or
	// updateauthorized push (api_query_auth); nil: authorization events
	// are answered and logged only.
	Auth Authorizations
	// Kinds are the ticket kinds kept per authorizer (removed with it).
	Kinds []string
}

// Store is what the handler needs of package store.
type Store interface {
	StoreVerifyTicket(ctx context.Context, component, ticket string, createTime time.Time) (bool, error)
	// For authorization events (authorize.go).
	Record(ctx context.Context, app string) (store.Record, error)
	PutAuthorizers(ctx context.Context, component string, list ...platform.Authorizer) error
	RemoveAuthorizer(ctx context.Context, component, appid string, kinds []string) (bool, error)
	CodeStore // exchanged codes (codes.go)
}

// Config configures a Handler. Store and at least one component are
// required.
type Config struct {
	Components []Component
	Store      Store
	// Timeout bounds storing a push. Default DefaultTimeout (3s).
	Timeout time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Audit, when set, records what authorization events did (never a
	// token or refresh token).
	Audit func(e fleet.AuditEntry)
	// Repeats, when set, limits the WARN lines of refused pushes and of
	// store failures (a flood of forged pushes, Redis down) to one per
	// component and reason, then counted; nil: every line is logged.
	Repeats Repeats
}

// Repeats logs a line that may repeat under key once, then counted
// (*logrepeat.Limiter).
type Repeats interface {
	Log(ctx context.Context, level slog.Level, key, msg string, args ...any)
}

// Handler serves pushes. Safe for concurrent use.
type Handler struct {
	comps   map[string]Component
	store   Store
	timeout time.Duration
	log     *slog.Logger
	repeats Repeats // nil: log every line
	audit   func(e fleet.AuditEntry)
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("callback: Store is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{comps: map[string]Component{}, store: cfg.Store, timeout: cfg.Timeout, log: cfg.Logger, repeats: cfg.Repeats, audit: cfg.Audit}
	for _, c := range cfg.Components {
		if c.ID == "" || c.AppID == "" || c.Crypt == nil {
			return nil, fmt.Errorf("callback: component %q: ID, AppID and Crypt are required", c.ID)
		}
		h.comps[c.ID] = c
	}
	return h, nil
}

// Register adds the route to mux.
func (h *Handler) Register(mux *http.ServeMux) { mux.Handle(Route, h) }

// envelope is the outer XML of a push.
type envelope struct {
	AppID   string `xml:"AppId"`
	Encrypt string `xml:"Encrypt"`
}

// message is the decrypted XML of a push.
type message struct {
	AppID           string `xml:"AppId"`
	CreateTime      int64  `xml:"CreateTime"`
	InfoType        string `xml:"InfoType"`
	VerifyTicket    string `xml:"ComponentVerifyTicket"`
	AuthorizerAppID string `xml:"AuthorizerAppid"`
	AuthCode        string `xml:"AuthorizationCode"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, ok := h.comps[id]
	if !ok {
		text(w, http.StatusNotFound, "unknown component")
		return
	}
	msg, code, reason := h.open(w, r, c)
	if code != 0 {
		h.warn(r.Context(), "refused\x00"+id+"\x00"+reason, "callback: push refused, nothing stored", "component", id, "status", code, "reason", reason)
		text(w, code, reason)
		return
	}
	switch msg.InfoType {
	case "component_verify_ticket":
		h.storeTicket(w, r, c, msg)
	case "authorized", "updateauthorized", "unauthorized":
		h.authorization(w, r, c, msg)
	default:
		h.log.Info("callback: push of an unknown type ignored", "component", id, "info_type", msg.InfoType)
		text(w, http.StatusOK, "success")
	}
}

// open reads, verifies and decrypts a push; code is 0 or the status to
// answer with reason.
func (h *Handler) open(w http.ResponseWriter, r *http.Request, c Component) (message, int, string) {
	q := r.URL.Query()
	if et := q.Get("encrypt_type"); et != "aes" {
		return message{}, http.StatusBadRequest, "encrypt_type must be aes"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return message{}, http.StatusRequestEntityTooLarge, "body too large"
	case err != nil:
		return message{}, http.StatusBadRequest, "cannot read body"
	}
	var env envelope
	if xml.Unmarshal(body, &env) != nil || env.Encrypt == "" {
		return message{}, http.StatusBadRequest, "body is not a push (no Encrypt)"
	}
	plain, err := c.Crypt.VerifyAndDecrypt(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), strings.TrimSpace(env.Encrypt))
	switch {
	case errors.Is(err, msgcrypt.ErrSignature):
		return message{}, http.StatusForbidden, "bad signature"
	case errors.Is(err, msgcrypt.ErrAppID):
		return message{}, http.StatusForbidden, "wrong appid"
	case errors.Is(err, msgcrypt.ErrTooLarge):
		return message{}, http.StatusRequestEntityTooLarge, "body too large"
	case err != nil:
		return message{}, http.StatusBadRequest, "cannot decrypt"
	}
	var msg message
	if xml.Unmarshal(plain, &msg) != nil {
		return message{}, http.StatusBadRequest, "decrypted message is not XML"
	}
	if msg.AppID != c.AppID {
		return message{}, http.StatusForbidden, "wrong appid"
	}
	return msg, 0, ""
}

// storeTicket stores a verify ticket within the timeout and answers.
func (h *Handler) storeTicket(w http.ResponseWriter, r *http.Request, c Component, msg message) {
	if msg.VerifyTicket == "" || msg.CreateTime <= 0 {
		text(w, http.StatusBadRequest, "verify ticket push without ComponentVerifyTicket or CreateTime")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.timeout)
	defer cancel()
	stored, err := h.store.StoreVerifyTicket(ctx, c.ID, msg.VerifyTicket, time.Unix(msg.CreateTime, 0))
	if err != nil {
		h.warn(ctx, "store\x00"+c.ID, "callback: verify ticket not stored; WeChat pushes again", "component", c.ID, "err", err)
		text(w, http.StatusServiceUnavailable, "store unavailable")
		return
	}
	h.log.Info("callback: verify ticket received", "component", c.ID, "create_time", msg.CreateTime,
		"fingerprint", store.Fingerprint(msg.VerifyTicket), "stored", stored)
	text(w, http.StatusOK, "success")
}

// warn logs a WARN that may repeat, through Repeats when set.
func (h *Handler) warn(ctx context.Context, key, msg string, args ...any) {
	if h.repeats != nil {
		h.repeats.Log(ctx, slog.LevelWarn, key, msg, args...)
		return
	}
	h.log.Warn(msg, args...)
}

func text(w http.ResponseWriter, code int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, s)
}
