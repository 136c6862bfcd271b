// Package console serves tokend's operator console: GET /ui/ is a
// read-only page rendered from ui/console.html with its first state
// (view.go) and an inline stylesheet (ui/console.css), with one async
// script (ui/console.js) that polls /v1/status and /v1/audit; GET
// /ui/errcodes is the errcode guide (package errcodes). Everything is
// embedded: the pages load nothing from anywhere else and work without
// internet. They show fingerprints only, never a token: they carry
// nothing /v1/status and /v1/audit do not answer. The console reads
// through a Source (the HTTP API, which mounts it and counts its
// requests); it does no auth of its own and holds no state.
package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"k8s.io/utils/clock"

	"github.com/tokend/tokend/cmd/tokend/internal/errcodes"
)

// Source is what the console reads, as the request's client may see it.
type Source interface {
	// Authorize runs the check of GET /v1/status on r without answering:
	// ok when it passed, with the context it passed with (naming the
	// client, whose credentials alone the page then shows).
	Authorize(r *http.Request) (ctx context.Context, ok bool)
	// Status is what GET /v1/status answers to ctx's client.
	Status(ctx context.Context) (Status, error)
	// Audit is the newest limit entries of GET /v1/audit for ctx's
	// client; note names a corrupt stream (the list is then empty).
	Audit(ctx context.Context, limit int) (entries []Event, note string, err error)
}

// Config configures a Handler. Source is required.
type Config struct {
	Source  Source
	Replica string       // this replica's id, shown as "served by"
	Logger  *slog.Logger // default: discarding
	Clock   clock.PassiveClock
}

// Handler serves GET /ui/ (mount it on that pattern), /ui/errcodes and
// the page's script. Safe for concurrent use.
type Handler struct {
	src     Source
	replica string
	log     *slog.Logger
	clock   clock.PassiveClock
}

// New returns the console of cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Source == nil {
		return nil, errors.New("console: Source is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Handler{src: cfg.Source, replica: cfg.Replica, log: cfg.Logger, clock: cfg.Clock}, nil
}

//go:embed ui
var uiFS embed.FS

var (
	consoleTmpl = template.Must(template.ParseFS(uiFS, "ui/console.html", "ui/parts.html"))
	guideTmpl   = template.Must(template.ParseFS(uiFS, "ui/errcodes.html", "ui/parts.html"))
)

// PollMS is how often the page polls, in milliseconds.
const PollMS = 3000

// consoleStyle is the pages' stylesheet, inlined into each page (one
// request less before the first paint); the CSP names its hash.
//
//go:embed ui/console.css
var consoleStyle string

// consoleCSP allows only the page's own script, its inline stylesheet and
// API calls.
var consoleCSP = "default-src 'none'; script-src 'self'; style-src '" + cspHash(consoleStyle) + "'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// pageHead is what every page's head needs (parts.html "head").
type pageHead struct {
	Title string
	Style template.CSS
}

func newPageHead(title string) pageHead {
	return pageHead{Title: title, Style: template.CSS(consoleStyle)}
}

// cspHash is the CSP source of an inline element with content s.
func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

type consolePage struct {
	pageHead
	Replica  string
	PollMS   int
	Data     consoleData
	Errcodes []errcodes.Entry
	Guide    string
}

// guidePage is the errcode guide (GET /ui/errcodes), platform by platform.
type guidePage struct {
	pageHead
	Replica   string
	Platforms []guidePlatform
}

type guidePlatform struct {
	ID, Name string
	Entries  []errcodes.Entry
}

// ServeHTTP serves the page, /ui/errcodes and the page's files. The page
// carries the status when the request may read /v1/status (no key
// configured, or a good one sent, e.g. by a proxy); else it is the empty
// page whose script asks for a key.
func (a *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ui/":
	case errcodes.GuidePath:
		a.consoleRender(w, r, guideTmpl, a.guide())
		return
	default:
		a.consoleStatic(w, r)
		return
	}
	page := consolePage{pageHead: newPageHead("tokend console"), Replica: a.replica, PollMS: PollMS, Errcodes: errcodes.All(), Guide: errcodes.GuidePath}
	if ctx, ok := a.src.Authorize(r); ok {
		page.Data = a.consoleState(ctx, a.clock.Now())
	}
	a.consoleRender(w, r, consoleTmpl, page)
}

func (a *Handler) guide() guidePage {
	g := guidePage{pageHead: newPageHead("tokend errcode guide"), Replica: a.replica}
	for _, p := range errcodes.Platforms {
		gp := guidePlatform{ID: p.ID, Name: p.Name}
		for _, e := range errcodes.All() {
			if e.Platform == p.ID {
				gp.Entries = append(gp.Entries, e)
			}
		}
		g.Platforms = append(g.Platforms, gp)
	}
	return g
}

// consoleRender executes t into a buffer first, so that a template error
// is a clean 500.
func (a *Handler) consoleRender(w http.ResponseWriter, r *http.Request, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		a.log.ErrorContext(r.Context(), "api: console template", "err", err)
		writeError(w, http.StatusInternalServerError, "console unavailable")
		return
	}
	consoleHeaders(w, "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// consoleStatic serves the page's script (/ui/console.js); any other path
// under /ui/ is 404.
func (a *Handler) consoleStatic(w http.ResponseWriter, r *http.Request) {
	types := map[string]string{"console.js": "text/javascript; charset=utf-8"}
	name := strings.TrimPrefix(r.URL.Path, "/ui/")
	ct, ok := types[name]
	if !ok {
		writeError(w, http.StatusNotFound, "no such file")
		return
	}
	b, err := uiFS.ReadFile("ui/" + name)
	if err != nil {
		writeError(w, http.StatusNotFound, "no such file")
		return
	}
	consoleHeaders(w, ct)
	_, _ = w.Write(b)
}

func consoleHeaders(w http.ResponseWriter, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// writeError answers {"error": msg}, as the API's other routes do.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
