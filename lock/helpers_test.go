package lock

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// stallProxy is a loopback TCP proxy whose traffic a test can stall: after
// stall, bytes are still read on both sides but held, not forwarded, as on
// a connection whose peer vanished without a reset. close ends everything.
type stallProxy struct {
	addr   string
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu      sync.Mutex // guards stalled, closed, conns; cond waits on it
	cond    *sync.Cond
	stalled bool
	closed  bool
	conns   map[net.Conn]struct{}
}

func startStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		if !p.track(c, up) {
			return
		}
		p.wg.Go(func() { p.pump(up, c) })
		p.wg.Go(func() { p.pump(c, up) })
	}
}

func (p *stallProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		if p.closed {
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
	}
	return !p.closed
}

// pump copies src to dst, holding each chunk while the proxy is stalled.
func (p *stallProxy) pump(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitOpen() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// waitOpen waits while stalled; false once closed.
func (p *stallProxy) waitOpen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.stalled && !p.closed {
		p.cond.Wait()
	}
	return !p.closed
}

func (p *stallProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
}

// close drops every connection (so calls blocked on them fail at once) and
// waits for the proxy's goroutines. Idempotent.
func (p *stallProxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}

// timeline records events from several goroutines in the order they
// happened, with the real time of each.
type timeline struct {
	mu     sync.Mutex // guards events
	events []mark
}

type mark struct {
	what string
	at   time.Time
}

func (tl *timeline) add(what string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.events = append(tl.events, mark{what, time.Now()})
}

// index returns the position of the first event named what, or -1.
func (tl *timeline) index(what string) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for i, m := range tl.events {
		if m.what == what {
			return i
		}
	}
	return -1
}

func (tl *timeline) snapshot() []mark {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]mark(nil), tl.events...)
}

// recordLeading makes e add "<id> leads" and "<id> stops" to tl on each
// change of Leading().
func recordLeading(e *Elector, tl *timeline) {
	e.onLeading = func(_ Term, leading bool) {
		if leading {
			tl.add(e.cfg.ID + " leads")
		} else {
			tl.add(e.cfg.ID + " stops")
		}
	}
}

// overlap returns how long, in total, two or more electors said they led.
func overlap(marks []mark) time.Duration {
	leading := map[string]bool{}
	var total time.Duration
	var since time.Time
	for _, m := range marks {
		id, state, _ := cutLast(m.what)
		before := len(leading)
		switch state {
		case "leads":
			leading[id] = true
		case "stops":
			delete(leading, id)
		default:
			continue
		}
		after := len(leading)
		if before < 2 && after >= 2 {
			since = m.at
		}
		if before >= 2 && after < 2 {
			total += m.at.Sub(since)
		}
	}
	return total
}

func cutLast(s string) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// capture is a slog handler keeping each record's message and attributes.
type capture struct {
	mu   *sync.Mutex // guards recs
	recs *[]slog.Record
}

func newCapture() (*slog.Logger, *capture) {
	c := &capture{mu: &sync.Mutex{}, recs: &[]slog.Record{}}
	return slog.New(c), c
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	*c.recs = append(*c.recs, r.Clone())
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

// count returns how many records have message msg.
func (c *capture) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range *c.recs {
		if r.Message == msg {
			n++
		}
	}
	return n
}

// attr returns attribute key of the first record with message msg.
func (c *capture) attr(msg, key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range *c.recs {
		if r.Message != msg {
			continue
		}
		var v string
		var ok bool
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v, ok = a.Value.String(), true
				return false
			}
			return true
		})
		return v, ok
	}
	return "", false
}

// countingClient counts script calls (each obtain is one).
type countingClient struct {
	*redis.Client
	scripts atomic.Int64
}

func (c *countingClient) EvalSha(ctx context.Context, sha1 string, keys []string, args ...interface{}) *redis.Cmd {
	defer c.scripts.Add(1)
	return c.Client.EvalSha(ctx, sha1, keys, args...)
}
