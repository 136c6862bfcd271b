package httpapi

import (
	"errors"
	"net/http"
	"slices"

	"github.com/tokend/tokend/store/jssdk"
	"github.com/tokend/tokend/store/reader"
)

// credential is one value the read and refresh routes serve: an app's
// access token or one of its tickets.
type credential struct {
	id     string // credential id: "<app>" or "<app>:<kind>"
	noun   string // "token" or "ticket", in messages and logs
	field  string // the refresh body's field: invalid_token or invalid_ticket
	answer func(tok reader.Token, refreshed *bool) any
}

func tokenCredential(app string) credential {
	return credential{id: app, noun: "token", field: "invalid_token", answer: func(tok reader.Token, refreshed *bool) any {
		return tokenAnswer{AccessToken: tok.Value, ExpiresIn: expiresIn(tok), Refreshed: refreshed}
	}}
}

// ticketAnswer is a ticket and its remaining seconds, plus refreshed for
// the refresh route.
type ticketAnswer struct {
	Ticket    string `json:"ticket"`
	ExpiresIn int64  `json:"expires_in"`
	Refreshed *bool  `json:"refreshed,omitempty"`
}

func ticketCredential(id string) credential {
	return credential{id: id, noun: "ticket", field: "invalid_ticket", answer: func(tok reader.Token, refreshed *bool) any {
		return ticketAnswer{Ticket: tok.Value, ExpiresIn: expiresIn(tok), Refreshed: refreshed}
	}}
}

// knownTicket answers 404 and returns false unless the path names a
// configured app and one of its ticket kinds.
func (a *Server) knownTicket(w http.ResponseWriter, r *http.Request) (credential, bool) {
	app, ok := a.knownApp(w, r)
	if !ok {
		return credential{}, false
	}
	kind := r.PathValue("kind")
	if !slices.Contains(app.Tickets, kind) {
		writeError(w, http.StatusNotFound, "ticket kind not configured for this app (apps[].tickets)")
		return credential{}, false
	}
	return ticketCredential(app.ID + ":" + kind), true
}

func (a *Server) ticket(w http.ResponseWriter, r *http.Request) {
	if c, ok := a.knownTicket(w, r); ok {
		a.serve(w, r, c)
	}
}

// ticketRefresh is compare-and-refresh of a ticket: a page whose
// wx.config failed with "invalid signature" reports the ticket it signed
// with.
func (a *Server) ticketRefresh(w http.ResponseWriter, r *http.Request) {
	if c, ok := a.knownTicket(w, r); ok {
		a.compareAndRefresh(w, r, c)
	}
}

// signatureAnswer is what a page passes to wx.config (wx.agentConfig with
// agentid): never the ticket.
type signatureAnswer struct {
	AppID     string `json:"appid"`
	AgentID   string `json:"agentid,omitempty"` // agent_config only
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonce_str"`
	Signature string `json:"signature"`
	URL       string `json:"url"`
}

const signatureUsage = `body must be JSON {"url":"<the page's location.href>","kind":"jsapi"} (kind optional: jsapi, or agent_config for wecom)`

// signature signs a page URL with the app's ticket of the asked kind
// (jsapi by default): 400 for a bad URL, a kind not configured, or
// agent_config without an agentid; 503 when no valid ticket is at hand.
func (a *Server) signature(w http.ResponseWriter, r *http.Request) {
	app, ok := a.knownApp(w, r)
	if !ok {
		return
	}
	var body struct {
		URL  string `json:"url"`
		Kind string `json:"kind"`
	}
	if !decodeBody(w, r, &body, signatureUsage) {
		return
	}
	kind := body.Kind
	if kind == "" {
		kind = "jsapi"
	}
	switch {
	case !jssdk.ConfigKind(kind):
		writeError(w, http.StatusBadRequest, "kind: want jsapi or agent_config (wx_card tickets sign differently)")
		return
	case !slices.Contains(app.Tickets, kind):
		writeError(w, http.StatusBadRequest, "kind: the app keeps no "+kind+" ticket; add it to apps[].tickets")
		return
	case kind == "agent_config" && app.AgentID == "":
		writeError(w, http.StatusBadRequest, "kind: agent_config signatures need the app's agentid; set apps[].agentid")
		return
	}
	sig, err := a.tokensR.Signature(r.Context(), app.ID, kind, body.URL)
	var ue *jssdk.URLError
	switch {
	case errors.As(err, &ue):
		writeError(w, http.StatusBadRequest, "url: "+ue.Reason)
		return
	case errors.Is(err, reader.ErrNoToken):
		writeError(w, http.StatusServiceUnavailable, "no valid ticket")
		return
	case err != nil:
		a.warnRepeated(r.Context(), "api: read ticket failed", "app", app.ID+":"+kind, "err", err)
		writeError(w, http.StatusServiceUnavailable, "redis unavailable")
		return
	}
	ans := signatureAnswer{AppID: app.AppID, Timestamp: sig.Timestamp, NonceStr: sig.NonceStr, Signature: sig.Signature, URL: sig.URL}
	if kind == "agent_config" {
		ans.AgentID = app.AgentID
	}
	writeJSON(w, http.StatusOK, ans)
}
