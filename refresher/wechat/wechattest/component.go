package wechattest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tokend/tokend/refresher/wechat/msgcrypt"
)

// The Open Platform (third-party platform, 第三方平台): a Component gets
// component_verify_ticket pushes, encrypted with msgcrypt, POSTed to its
// callback URLs (one picked at random per push) every PushEvery, and
// answers POST /cgi-bin/component/api_component_token with a new token
// per call (the classic token's rules: the previous one keeps working for
// Config.Overlap) for a ticket it pushed: 61006 for one it never pushed,
// 61005 for one past its TicketLifetime (or expired with
// ExpireVerifyTickets). POST /cgi-bin/component/api_start_push_ticket
// resumes stopped pushes and pushes one at once.
//
// Authorizers, their tokens, authorization events and the authorizer
// list are in authorizers.go.

// Open Platform errcodes.
const (
	CodeTicketExpired = 61005
	CodeTicketInvalid = 61006
)

// Component registers an Open Platform third-party platform.
type Component struct {
	AppID, Secret string
	// Token and EncodingAESKey encrypt and sign the pushes.
	Token, EncodingAESKey string
	// CallbackURLs receive the pushes, one picked at random per push.
	CallbackURLs []string
	// PushEvery is the interval of automatic pushes (real time: they are
	// HTTP requests); 0: pushes only by PushTicket.
	PushEvery time.Duration
	// TicketLifetime is a verify ticket's validity (Config.Clock).
	// Default 12 h.
	TicketLifetime time.Duration
}

// Push is one push sent to a callback.
type Push struct {
	Ticket string
	// AuthorizationCode is what an authorized or updateauthorized event
	// carried ("" for other pushes).
	AuthorizationCode string
	CreateTime        int64
	URL               string
	// Status and Body are the callback's answer (0 and "" when the request
	// failed: Err says why).
	Status int
	Body   string
	Err    string
	// request is what was sent, for a replay.
	request pushRequest
}

type pushRequest struct {
	query url.Values
	body  []byte
}

// ComponentStats counts what a component's fake saw and did.
type ComponentStats struct {
	Pushes        int  `json:"pushes"`         // pushes answered "success"
	PushFailures  int  `json:"push_failures"`  // pushes not answered "success"
	TokenFetches  int  `json:"token_fetches"`  // api_component_token answered with a token
	TicketRefused int  `json:"ticket_refused"` // api_component_token answered 61005/61006
	StartPush     int  `json:"start_push"`     // api_start_push_ticket calls answered ok
	Pushing       bool `json:"pushing"`        // automatic pushes running
}

// component is the state of one Component, guarded by Server.mu.
type component struct {
	cfg     Component
	crypt   *msgcrypt.Crypt
	app     *app                 // the classic-token state of the component token
	tickets map[string]time.Time // verify ticket -> expiry
	auths   *authorizerSet       // its authorizers (authorizers.go); nil: none yet
	sent    []Push               // the last maxSent pushes, oldest first
	stop    chan struct{}        // closed to stop automatic pushes; nil when none run
	stats   ComponentStats
}

const maxSent = 32

// AddComponent registers c (replacing one with the same AppID) and starts
// its automatic pushes if PushEvery > 0.
func (s *Server) AddComponent(c Component) error {
	cr, err := msgcrypt.New(msgcrypt.Config{Token: c.Token, EncodingAESKey: c.EncodingAESKey, AppID: c.AppID})
	if err != nil {
		return fmt.Errorf("wechattest: component %s: %w", c.AppID, err)
	}
	if c.TicketLifetime <= 0 {
		c.TicketLifetime = 12 * time.Hour
	}
	c.CallbackURLs = append([]string(nil), c.CallbackURLs...)
	s.StopPushes(c.AppID)
	s.mu.Lock()
	if s.comps == nil {
		s.comps = map[string]*component{}
	}
	s.comps[c.AppID] = &component{cfg: c, crypt: cr, app: newApp(c.AppID, c.Secret), tickets: map[string]time.Time{}}
	s.mu.Unlock()
	if c.PushEvery > 0 {
		s.StartPushes(c.AppID)
	}
	return nil
}

// ErrUnknownComponent: no component with that appid.
var ErrUnknownComponent = errors.New("wechattest: unknown component")

// PushTicket issues a new verify ticket for appid and pushes it now to one
// of its callback URLs. The returned error is only for an unknown
// component; a failed delivery is in Push.Err and Push.Status.
func (s *Server) PushTicket(ctx context.Context, appid string) (Push, error) {
	s.mu.Lock()
	c := s.comps[appid]
	if c == nil {
		s.mu.Unlock()
		return Push{}, ErrUnknownComponent
	}
	now := s.now()
	p := Push{Ticket: "ticket@@@" + randomString(60), CreateTime: now.Unix()}
	c.tickets[p.Ticket] = now.Add(c.cfg.TicketLifetime)
	p.URL = c.cfg.CallbackURLs[rand.N(len(c.cfg.CallbackURLs))]
	crypt := c.crypt
	s.mu.Unlock()
	msg := fmt.Sprintf("<xml><AppId><![CDATA[%s]]></AppId><CreateTime>%d</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[%s]]></ComponentVerifyTicket></xml>",
		appid, p.CreateTime, p.Ticket)
	return s.sealAndDeliver(ctx, appid, crypt, p, msg, true)
}

// sealAndDeliver encrypts msg for appid's callback at p.URL, as WeChat
// does, and delivers it (record: keep it for replays).
func (s *Server) sealAndDeliver(ctx context.Context, appid string, crypt *msgcrypt.Crypt, p Push, msg string, record bool) (Push, error) {
	ts, nonce := strconv.FormatInt(p.CreateTime, 10), strconv.FormatUint(rand.Uint64N(1e10), 10)
	enc, sig, err := crypt.Seal([]byte(msg), ts, nonce)
	if err != nil {
		return Push{}, err
	}
	p.request = pushRequest{
		query: url.Values{"signature": {crypt.Signature(ts, nonce, "")}, "timestamp": {ts}, "nonce": {nonce}, "encrypt_type": {"aes"}, "msg_signature": {sig}},
		body:  fmt.Appendf(nil, "<xml><AppId><![CDATA[%s]]></AppId><Encrypt><![CDATA[%s]]></Encrypt></xml>", appid, enc),
	}
	return s.deliver(ctx, appid, p, record), nil
}

// ReplayPush sends the push back pushes ago (1: the last one) again,
// byte for byte, to the same URL: what an attacker or a retrying network
// does. It returns the push as answered.
func (s *Server) ReplayPush(ctx context.Context, appid string, back int) (Push, error) {
	s.mu.Lock()
	c := s.comps[appid]
	if c == nil || back < 1 || back > len(c.sent) {
		s.mu.Unlock()
		return Push{}, fmt.Errorf("wechattest: no push %d back for %s", back, appid)
	}
	p := c.sent[len(c.sent)-back]
	s.mu.Unlock()
	return s.deliver(ctx, appid, p, false), nil
}

// deliver POSTs p and records the answer; record: keep it for replays.
func (s *Server) deliver(ctx context.Context, appid string, p Push, record bool) Push {
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.comps[appid]; c != nil {
		if p.Status == http.StatusOK && p.Body == "success" {
			c.stats.Pushes++
		} else {
			c.stats.PushFailures++
		}
		if record {
			c.sent = append(c.sent, p)
			if len(c.sent) > maxSent {
				c.sent = c.sent[1:]
			}
		}
	}
	return p
}

// StartPushes starts automatic pushes of appid every PushEvery (no-op if
// they run, or PushEvery is 0). They end with StopPushes or Close.
func (s *Server) StartPushes(appid string) {
	s.mu.Lock()
	c := s.comps[appid]
	if c == nil || c.stop != nil || c.cfg.PushEvery <= 0 {
		s.mu.Unlock()
		return
	}
	stop := make(chan struct{})
	c.stop, c.stats.Pushing = stop, true
	every := c.cfg.PushEvery
	s.mu.Unlock()
	go func() {
		ctx, cancel := s.closingContext()
		defer cancel()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				_, _ = s.PushTicket(ctx, appid)
			}
		}
	}()
}

// closingContext is a context cancelled when the server closes (or
// cancel is called).
func (s *Server) closingContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.done:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx, cancel
}

// StopPushes stops appid's automatic pushes (api_start_push_ticket starts
// them again).
func (s *Server) StopPushes(appid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.comps[appid]; c != nil && c.stop != nil {
		close(c.stop)
		c.stop, c.stats.Pushing = nil, false
	}
}

// ExpireVerifyTickets makes every verify ticket issued to appid so far
// answer 61005.
func (s *Server) ExpireVerifyTickets(appid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.comps[appid]; c != nil {
		for t := range c.tickets {
			c.tickets[t] = time.Time{}
		}
	}
}

// ComponentStats returns appid's counters (zero for an unknown one).
func (s *Server) ComponentStats(appid string) ComponentStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.comps[appid]; c != nil {
		return c.stats
	}
	return ComponentStats{}
}

// CurrentComponentToken is the newest component_access_token of appid
// ("" if none).
func (s *Server) CurrentComponentToken(appid string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.comps[appid]; c != nil {
		return c.app.Classic
	}
	return ""
}
