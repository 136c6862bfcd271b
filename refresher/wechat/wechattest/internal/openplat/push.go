package openplat

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tokend/tokend/refresher/wechat/msgcrypt"
	"github.com/tokend/tokend/refresher/wechat/wechattest/internal/ledger"
)

// PushTicket issues a new verify ticket for appid and pushes it now to one
// of its callback URLs. The returned error is only for an unknown
// component; a failed delivery is in Push.Err and Push.Status.
func (g *Registry) PushTicket(ctx context.Context, appid string) (Push, error) {
	g.mu.Lock()
	c := g.comps[appid]
	if c == nil {
		g.mu.Unlock()
		return Push{}, ErrUnknownComponent
	}
	now := g.now()
	p := Push{Ticket: "ticket@@@" + ledger.RandomString(60), CreateTime: now.Unix()}
	c.Tickets[p.Ticket] = now.Add(c.Cfg.TicketLifetime)
	p.URL = c.Cfg.CallbackURLs[rand.N(len(c.Cfg.CallbackURLs))]
	crypt := c.crypt
	g.mu.Unlock()
	msg := fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%d</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[%s]]></ComponentVerifyTicket></xml>",
		appid, p.CreateTime, p.Ticket)
	return g.sealAndDeliver(ctx, appid, crypt, p, msg, true)
}

// sealAndDeliver encrypts msg for appid's callback at p.URL, as WeChat
// does, and delivers it (record: keep it for replays).
func (g *Registry) sealAndDeliver(ctx context.Context, appid string, crypt *msgcrypt.Crypt, p Push, msg string, record bool) (Push, error) {
	ts, nonce := strconv.FormatInt(p.CreateTime, 10), strconv.FormatUint(rand.Uint64N(1e10), 10)
	enc, sig, err := crypt.Seal([]byte(msg), ts, nonce)
	if err != nil {
		return Push{}, err
	}
	p.request = pushRequest{
		query: url.Values{"signature": {crypt.Signature(ts, nonce, "")}, "timestamp": {ts}, "nonce": {nonce}, "encrypt_type": {"aes"}, "msg_signature": {sig}},
		body:  fmt.Appendf(nil, "<xml><AppId><![CDATA[%s]]></AppId><Encrypt><![CDATA[%s]]></Encrypt></xml>", appid, enc),
	}
	return g.deliver(ctx, appid, p, record), nil
}

// ReplayPush sends the push back pushes ago (1: the last one) again,
// byte for byte, to the same URL. It returns the push as answered.
func (g *Registry) ReplayPush(ctx context.Context, appid string, back int) (Push, error) {
	g.mu.Lock()
	c := g.comps[appid]
	if c == nil || back < 1 || back > len(c.sent) {
		g.mu.Unlock()
		return Push{}, fmt.Errorf("wechattest: no push %d back for %s", back, appid)
	}
	p := c.sent[len(c.sent)-back]
	g.mu.Unlock()
	return g.deliver(ctx, appid, p, false), nil
}

// deliver POSTs p and records the answer; record: keep it for replays.
func (g *Registry) deliver(ctx context.Context, appid string, p Push, record bool) Push {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p.Status, p.Body, p.Err = 0, "", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"?"+p.request.query.Encode(), bytes.NewReader(p.request.body))
	if err == nil {
		req.Header.Set("Content-Type", "text/xml")
		var resp *http.Response
		if resp, err = http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			p.Status, p.Body = resp.StatusCode, string(b)
		}
	}
	if err != nil {
		p.Err = err.Error()
	}
	g.with(appid, func(c *State) {
		if p.Status == http.StatusOK && p.Body == "success" {
			c.Stats.Pushes++
		} else {
			c.Stats.PushFailures++
		}
		if record {
			c.sent = append(c.sent, p)
			if len(c.sent) > maxSent {
				c.sent = c.sent[1:]
			}
		}
	})
	return p
}
