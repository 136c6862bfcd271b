package httpapi

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"
)

// The console: GET /ui/ is a read-only page for operators, rendered from
// ui/console.html, with one script (ui/console.js) that polls /v1/status
// and /v1/audit and one stylesheet. Everything is embedded: the page loads
// nothing from anywhere else and works without internet. It shows
// fingerprints only, never a token: it reads nothing /v1/status and
// /v1/audit do not answer.

//go:embed ui
var uiFS embed.FS

var consoleTmpl = template.Must(template.ParseFS(uiFS, "ui/console.html"))

// consolePollMS is how often the page polls, in milliseconds.
const consolePollMS = 3000

// consoleCSP allows only the page's own script, style and API calls.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// errcodeMeaning is a plain meaning of an upstream errcode, shown next to
// a credential's last error and in the audit list.
type errcodeMeaning struct {
	Code    int
	Meaning string
}

// errcodeMeanings is the console's table of upstream errcodes (WeChat
// unless named; see ../shared/UPSTREAM.md and the platforms' global
// return code pages). The page reads it from the rendered glossary.
var errcodeMeanings = []errcodeMeaning{
	{-1, "the upstream is busy; tokend retries"},
	{40001, "credential rejected: wrong secret, or the token was replaced by another caller's fetch"},
	{40002, "invalid grant type (a bug in the request)"},
	{40013, "invalid appid (or WeCom corpid): check the configured appid"},
	{40014, "illegal access token"},
	{40091, "WeCom: the secret is invalid"},
	{40125, "invalid appsecret: check the configured secret"},
	{40164, "this host's IP is not in the WeChat whitelist"},
	{40243, "the AppSecret is frozen: unfreeze it in the admin console"},
	{41001, "access token missing (a caller bug)"},
	{41002, "appid missing"},
	{41004, "appsecret missing"},
	{42001, "access token expired"},
	{45009, "daily API quota used up: wait for the next day (UTC+8) or clear the quota"},
	{45011, "per-minute API quota reached: calls slow down"},
	{45033, "WeCom: too many concurrent calls"},
	{48006, "quota clearing limit reached for today"},
	{60020, "WeCom: this host's IP is not in the app's trusted IPs"},
	{61004, "Open Platform: this host's IP is not registered for the component"},
	{61005, "Open Platform: the component verify ticket expired; waiting for the next push"},
	{61006, "Open Platform: the component verify ticket is invalid; waiting for the next push"},
	{61023, "Open Platform: the authorizer refresh token is invalid; the account must re-authorize"},
	{89503, "risky IP: an admin must confirm this call in WeChat"},
	{89506, "this IP is blocked for 24 hours"},
	{89507, "this IP is blocked for 1 hour"},
}

type consolePage struct {
	Replica  string
	PollMS   int
	Errcodes []errcodeMeaning
}

// console serves the page. It needs no key: it holds no data; its script
// asks for a key when /v1/status does.
func (a *Server) console(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ui/" {
		a.consoleStatic(w, r)
		return
	}
	var buf bytes.Buffer
	page := consolePage{Replica: a.replica, PollMS: consolePollMS, Errcodes: errcodeMeanings}
	if err := consoleTmpl.Execute(&buf, page); err != nil {
		a.log.ErrorContext(r.Context(), "api: console template", "err", err)
		writeError(w, http.StatusInternalServerError, "console unavailable")
		return
	}
	consoleHeaders(w, "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// consoleStatic serves the page's script and stylesheet (/ui/console.js,
// /ui/console.css); any other path under /ui/ is 404.
func (a *Server) consoleStatic(w http.ResponseWriter, r *http.Request) {
	types := map[string]string{"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}
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
