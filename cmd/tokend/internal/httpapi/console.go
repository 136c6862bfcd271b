package httpapi

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/tokend/tokend/cmd/tokend/internal/errcodes"
)

// The console: GET /ui/ is a read-only page for operators, rendered from
// ui/console.html with its first state (console_view.go) and an inline
// stylesheet (ui/console.css), with one async script (ui/console.js) that
// polls /v1/status and /v1/audit; GET /ui/errcodes is the errcode guide (package errcodes). Everything is
// embedded: the pages load nothing from anywhere else and work without
// internet. They show fingerprints only, never a token: they carry
// nothing /v1/status and /v1/audit do not answer.

//go:embed ui
var uiFS embed.FS

var (
	consoleTmpl = template.Must(template.ParseFS(uiFS, "ui/console.html", "ui/parts.html"))
	guideTmpl   = template.Must(template.ParseFS(uiFS, "ui/errcodes.html", "ui/parts.html"))
)

// consolePollMS is how often the page polls, in milliseconds.
const consolePollMS = 3000

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

// console serves the page, /ui/errcodes and the page's files. The page
// carries the status when the request may read /v1/status (no key
// configured, or a good one sent, e.g. by a proxy); else it is the empty
// page whose script asks for a key.
func (a *Server) console(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ui/":
	case errcodes.GuidePath:
		a.consoleRender(w, r, guideTmpl, a.guide())
		return
	default:
		a.consoleStatic(w, r)
		return
	}
	page := consolePage{pageHead: newPageHead("tokend console"), Replica: a.replica, PollMS: consolePollMS, Errcodes: errcodes.All(), Guide: errcodes.GuidePath}
	if ctx, ok := a.mayRender(r); ok {
		page.Data = a.consoleState(ctx, time.Now())
	}
	a.consoleRender(w, r, consoleTmpl, page)
}

func (a *Server) guide() guidePage {
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
func (a *Server) consoleRender(w http.ResponseWriter, r *http.Request, t *template.Template, data any) {
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
func (a *Server) consoleStatic(w http.ResponseWriter, r *http.Request) {
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
