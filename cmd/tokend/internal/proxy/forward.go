package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// attempt is one proxied request's state, shared by forward, rewrite,
// the retry transport and the error handler through the request context.
// Only the request's own goroutines touch it, one at a time.
type attempt struct {
	app   string
	token string // the token sent upstream last
	// body is the buffered request body; retryable when it was buffered.
	body      []byte
	retryable bool
	retried   bool
	failed    bool // the upstream could not be reached
	presented string
}

type attemptKey struct{}

// forward sends r upstream with app's current token and streams the
// answer back; it returns the outcome.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, app string, c call) string {
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.Timeout)
	defer cancel()
	// The server's own read and write timeouts are for token calls; a
	// media transfer gets the proxy's (socket deadlines: the real clock).
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(p.cfg.Timeout))
	_ = rc.SetWriteDeadline(time.Now().Add(p.cfg.Timeout + time.Second))
	st := &attempt{app: app, presented: c.token}
	if rej := p.prepareBody(w, r, st); rej != nil {
		writeLocal(w, *rej)
		return RejectedLocal
	}
	cur, err := p.cfg.Token(ctx, app)
	if err != nil {
		writeLocal(w, rejection{http.StatusOK, -1, "system busy: tokend has no valid token for this app"})
		return Busy
	}
	st.token = cur
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(ctx, attemptKey{}, st)))
	switch {
	case st.failed:
		return UpstreamError
	case st.retried:
		return Retried
	}
	return Forwarded
}

// prepareBody bounds r's body by MaxBody and buffers it when it is at
// most RetryBodyLimit (st.retryable); a larger one streams.
func (p *Proxy) prepareBody(w http.ResponseWriter, r *http.Request, st *attempt) *rejection {
	tooBig := &rejection{http.StatusRequestEntityTooLarge, 40097, "invalid args: the body is larger than http.proxy_max_body (" + strconv.FormatInt(p.cfg.MaxBody, 10) + " bytes)"}
	if r.ContentLength > p.cfg.MaxBody {
		return tooBig
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		st.retryable = true
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, p.cfg.MaxBody)
	if r.ContentLength > RetryBodyLimit {
		return nil
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, RetryBodyLimit+1))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return tooBig
	case err != nil:
		return &rejection{http.StatusBadRequest, 40097, "invalid args: the request body could not be read"}
	case len(head) <= RetryBodyLimit:
		st.body, st.retryable = head, true
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(head)), int64(len(head))
	default: // no Content-Length and more than the limit: stream the rest
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	}
	return nil
}

// rewrite points the outgoing request at the app's base URL, the path
// kept, the token replaced; credentials meant for tokend are dropped and
// no X-Forwarded headers are added.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(attemptKey{}).(*attempt)
	pr.SetURL(p.upstreams[st.app])
	pr.Out.URL.RawQuery = withToken(pr.In.URL.RawQuery, st.token)
	pr.Out.Header.Del("Authorization")
	pr.Out.Header.Del("Cookie")
	if st.body != nil {
		body := st.body
		pr.Out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
}

// upstreamFailed answers a request the upstream did not answer: 502 with
// -1, the SDK's retry signal. The error is logged without tokens.
func (p *Proxy) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	st := r.Context().Value(attemptKey{}).(*attempt)
	st.failed = true
	msg := err.Error()
	for _, tok := range []string{st.token, st.presented, url.QueryEscape(st.token), url.QueryEscape(st.presented)} {
		if tok != "" {
			msg = strings.ReplaceAll(msg, tok, "<token>")
		}
	}
	p.cfg.Logger.WarnContext(r.Context(), "proxy: upstream call failed", "app", st.app, "path", pathLabel(r.URL.Path), "err", msg)
	writeLocal(w, rejection{http.StatusBadGateway, -1, "system busy: tokend could not reach the upstream"})
}

// rejectedToken are the errcodes of a token the upstream refuses:
// invalid or not latest, invalid (WeCom, or never issued), expired.
var rejectedToken = []int{40001, 40014, 42001}

// retryTransport sends a request and, when the answer rejects the token,
// reports it (compare-and-refresh) and sends the request once more with
// the new token if its body was buffered.
type retryTransport struct {
	base    http.RoundTripper
	refresh func(ctx context.Context, app, reported string) (string, bool)
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st, _ := req.Context().Value(attemptKey{}).(*attempt)
	resp, err := t.base.RoundTrip(req)
	if err != nil || st == nil {
		return resp, err
	}
	code, resp := errcodeOf(resp)
	if !slices.Contains(rejectedToken, code) {
		return resp, nil
	}
	tok, ok := t.refresh(req.Context(), st.app, st.token)
	if !ok || tok == st.token || !st.retryable {
		return resp, nil
	}
	_ = resp.Body.Close()
	out := req.Clone(req.Context())
	out.URL.RawQuery = withToken(req.URL.RawQuery, tok)
	if st.body != nil {
		out.Body = io.NopCloser(bytes.NewReader(st.body))
	}
	st.token, st.retried = tok, true
	return t.base.RoundTrip(out)
}

// errcodeOf reads the errcode of a JSON (or text/plain: WeChat labels
// some JSON errors so) answer of at most inspectLimit bytes, leaving the
// body readable again; 0 for any other answer.
func errcodeOf(resp *http.Response) (int, *http.Response) {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if (mt != "application/json" && mt != "text/plain" && mt != "text/json") || resp.ContentLength > inspectLimit {
		return 0, resp
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, inspectLimit+1))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if err != nil || len(head) > inspectLimit {
		return 0, resp
	}
	var ans struct {
		Errcode int `json:"errcode"`
	}
	if json.Unmarshal(head, &ans) != nil {
		return 0, resp
	}
	return ans.Errcode, resp
}

// writeLocal answers rej in WeChat's envelope.
func writeLocal(w http.ResponseWriter, rej rejection) {
	body, _ := json.Marshal(struct {
		Errcode int    `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}{rej.code, rej.msg})
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rej.status)
	_, _ = w.Write(body)
}
