package sdk

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/tokend/tokend/refresher/wechat/wechattest"
)

// credentialPaths are the WeChat calls that hand out tokens and tickets:
// behind tokend, an instance's egress sends these (and only these) to
// tokend, the way a hosts entry or an egress proxy would.
var credentialPaths = map[string]bool{
	"/cgi-bin/token":            true,
	"/cgi-bin/stable_token":     true,
	"/cgi-bin/ticket/getticket": true,
}

// egressStats counts what one SDK instance sent and was answered.
type egressStats struct {
	credential atomic.Int64 // token and ticket calls (the SDK renewing its cache)
	api        atomic.Int64 // every other call
	dead       atomic.Int64 // calls answered 40001 or 42001: a dead token
	// deadTickets counts tickets handed out that the upstream says are
	// not live.
	deadTickets atomic.Int64
}

// egress is one SDK instance's way out: a reverse proxy that sends the
// credential calls to tokend (empty: to the upstream as well) and every
// other call to the upstream, and counts them.
type egress struct {
	URL   string
	stats egressStats
}

// newEgress starts an egress to upstream, with credential calls to tokend
// ("" for none), closed when the test ends.
func newEgress(t *testing.T, up *wechattest.Server, tokend string) *egress {
	t.Helper()
	e := &egress{}
	upURL, _ := url.Parse(up.URL)
	var tdURL *url.URL
	if tokend != "" {
		tdURL, _ = url.Parse(tokend)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			target := upURL
			if credentialPaths[r.In.URL.Path] && tdURL != nil {
				target = tdURL
			}
			r.SetURL(target)
			r.Out.Host = target.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if !credentialPaths[resp.Request.URL.Path] || tdURL == nil {
				// The fake ends its JSON with a newline (json.Encoder);
				// WeChat does not, and co-wechat-api refuses it (it escapes
				// control characters, then JSON.parse): trimmed, so the
				// direct runs measure the upstream's token rules, not the
				// fake's formatting. tokend's answers pass untouched.
				body = bytes.TrimSuffix(body, []byte("\n"))
				resp.ContentLength = int64(len(body))
				resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			e.observe(resp.Request.URL.Path, body, up)
			return nil
		},
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

// observe counts one answer to path.
func (e *egress) observe(path string, body []byte, up *wechattest.Server) {
	var ans struct {
		Errcode int    `json:"errcode"`
		Ticket  string `json:"ticket"`
	}
	_ = json.Unmarshal(body, &ans)
	if credentialPaths[path] {
		e.stats.credential.Add(1)
	} else {
		e.stats.api.Add(1)
	}
	if ans.Errcode == 40001 || ans.Errcode == 42001 {
		e.stats.dead.Add(1)
	}
	if ans.Ticket != "" && !up.CheckTicket(ans.Ticket).Live() {
		e.stats.deadTickets.Add(1)
	}
}
