package browser

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium (apt-get install chromium).
const chromiumPath = "/usr/bin/chromium"

// requireChromium skips without Chromium, or fails when CI is set.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("browser: %s not found and CI is set: install it (apt-get install -y chromium)", chromiumPath)
	}
	t.Skipf("browser: SKIPPING, %s not found (apt-get install -y chromium to run the console test)", chromiumPath)
}

// netLog is the browser's request log: every URL requested and the bytes
// received per URL.
type netLog struct {
	mu    sync.Mutex
	urls  map[network.RequestID]string
	all   []string
	bytes map[string]float64 // URL path -> encoded bytes received (last load)
}

func (l *netLog) listen(ctx context.Context) error {
	return chromedp.Listen(ctx, func(ev any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			l.urls[e.RequestID] = e.Request.URL
			l.all = append(l.all, e.Request.URL)
		case *network.EventLoadingFinished:
			if u, err := url.Parse(l.urls[e.RequestID]); err == nil {
				l.bytes[u.Path] = e.EncodedDataLength
			}
		}
	})
}

// offLoopback returns the requested URLs that are neither on 127.0.0.1
// nor data: URLs.
func (l *netLog) offLoopback() (bad []string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.all {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "data" && u.Hostname() != "127.0.0.1") {
			bad = append(bad, s)
		}
	}
	return bad, len(l.all)
}

func (l *netLog) size(path string) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes[path]
}

// browser is one headless Chromium tab with a fresh profile. Screenshots
// go to the test's temp dir, or to $TOKEND_CONSOLE_SHOTS when set.
type browser struct {
	t   *testing.T
	ctx context.Context
	log *netLog
	dir string // screenshots
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	requireChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-default-apps", true), chromedp.Flag("disable-extensions", true),
		chromedp.Flag("metrics-recording-only", true), chromedp.Flag("disable-dev-shm-usage", true),
		// As puppeteer's defaults: a headless tab is never throttled as a
		// background one (paint timings would measure the throttling).
		chromedp.Flag("disable-background-timer-throttling", true), chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	dir := t.TempDir()
	if d := os.Getenv("TOKEND_CONSOLE_SHOTS"); d != "" { // keep them (README pictures, review)
		dir = d
	}
	b := &browser{t: t, ctx: ctx, log: &netLog{urls: map[network.RequestID]string{}, bytes: map[string]float64{}}, dir: dir}
	// The first call starts the browser: no timeout on its context (that
	// would stop the browser when it ends); a watchdog bounds it instead.
	watchdog := time.AfterFunc(30*time.Second, cancel)
	err := b.log.listen(ctx)
	if !watchdog.Stop() {
		t.Fatalf("browser: chromium did not start within 30s (%v)", err)
	}
	if err != nil {
		t.Fatalf("browser: start chromium: %v", err)
	}
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if _, err := chromedp.Call(cctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("browser: enable the network log: %v", err)
	}
	return b
}

// do runs actions, bounded by timeout; an error fails the test.
func (b *browser) do(timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates expr in the page, bounded.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until expr is true in the page, at most timeout, and
// returns the time waited.
func (b *browser) waitJS(timeout time.Duration, what, expr string) time.Duration {
	b.t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			b.screenshot("timeout")
			b.t.Fatalf("browser: %s: not within %s (%s; last error %v)", what, timeout, expr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// screenshot writes the whole page as name.png into the test's temp dir.
func (b *browser) screenshot(name string) { b.shot(name, chromedp.FullScreenshot(100)) }

// screenshotView writes the viewport only (a long page at 200% zoom is
// too big to capture whole in time).
func (b *browser) screenshotView(name string) { b.shot(name, chromedp.CaptureScreenshot()) }

func (b *browser) shot(name string, capture chromedp.Action[[]byte]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, capture)
	if err != nil {
		b.t.Errorf("browser: screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Errorf("browser: %v", err)
		return
	}
	b.t.Logf("screenshot: %s (%d bytes)", p, len(png))
}
