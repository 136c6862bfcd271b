package browser

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The console's qualities beyond its data: first paint, the server-
// rendered first state, colour schemes, keyboard, zoom.

// loads is how many page loads a first-paint figure is the median of.
const loads = 5

// call runs a DevTools command on the page, bounded; an error fails the
// test.
func call[P, R any](b *browser, what string, cmd cdp.Command[P, R], p P) R {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	r, err := chromedp.Call(ctx, cmd, p)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return r
}

// sendKey makes the browser send Authorization: Bearer key with every
// request, as a proxy in front of tokend would; "" stops it.
func (b *browser) sendKey(key string) {
	h := network.Headers{}
	if key != "" {
		h["Authorization"] = "Bearer " + key
	}
	call(b, "set extra headers", network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h})
}

// paintJS reads one load's figures, in ms since navigation start: first
// contentful paint, the status on screen (the "console-rendered" mark,
// or the first paint when that came later: a server-rendered status is
// in the first paint), the HTML's first and last byte, the script's last
// byte, DOMContentLoaded.
const paintJS = `(() => { const nav = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0].startTime;
  const js = performance.getEntriesByType("resource").find((r) => r.name.endsWith("/ui/console.js"));
  return [fcp, Math.max(fcp, performance.getEntriesByName("console-rendered")[0].startTime), nav.responseStart, nav.responseEnd,
    js ? js.responseEnd : -1, nav.domContentLoadedEventEnd]; })()`

// paintFigures reloads the page loads times, waiting each time until
// ready holds, and returns the medians of paintJS's figures.
func paintFigures(b *browser, ready string) [6]float64 {
	b.t.Helper()
	var per [6][]float64
	for range loads {
		b.do(15*time.Second, "reload", chromedp.Reload())
		b.waitJS(10*time.Second, "the status after reload", ready)
		b.waitJS(5*time.Second, "the first contentful paint entry", `performance.getEntriesByName("first-contentful-paint").length > 0`)
		for i, v := range eval[[]float64](b, paintJS) {
			per[i] = append(per[i], v)
		}
	}
	var med [6]float64
	for i := range per {
		slices.Sort(per[i])
		med[i] = per[i][loads/2]
	}
	b.t.Logf("figures: per load (sorted): first contentful paint %.0f ms; status on screen %.0f ms; HTML first byte %.0f ms, last byte %.0f ms; "+
		"script last byte %.0f ms; DOMContentLoaded %.0f ms", per[0], per[1], per[2], per[3], per[4], per[5])
	return med
}

// checkPaint prints the median first paint and status-on-screen times and
// fails only beyond renderBound (a busy 2-core machine must not fail).
func checkPaint(t *testing.T, b *browser, what string, ready string) {
	t.Helper()
	m := paintFigures(b, ready)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		t.Logf("figures: load average while measuring: %s", strings.TrimSpace(string(load)))
	}
	fcp, data := m[0], m[1]
	t.Logf("figures: %s: median of %d loads: first contentful paint %.0f ms, status on screen %.0f ms, HTML received %.0f-%.0f ms (goal 200 ms; bound %s)",
		what, loads, fcp, data, m[2], m[3], renderBound)
	if fcp <= 0 || time.Duration(fcp)*time.Millisecond > renderBound || time.Duration(data)*time.Millisecond > renderBound {
		t.Errorf("%s: first paint %.0f ms, status on screen %.0f ms: want under %s", what, fcp, data, renderBound)
	}
}

// rowSnapshot is every keyed row of the three tables: its markup shape
// (tags and classes) and its text with times and durations blanked.
type rowSnapshot map[string]map[string]struct{ Sig, Text string }

const snapshotJS = `JSON.stringify(Object.fromEntries([["replicas", "replica"], ["creds", "credential"], ["audit", "id"]].map(([t, k]) =>
  [t, Object.fromEntries([...document.querySelectorAll("#" + t + " tbody tr[data-" + k + "]")].map((tr) => [tr.dataset[k], {
    sig: [...tr.querySelectorAll("*")].map((e) => e.tagName.toLowerCase() + (e.className ? "." + e.className.replace(/ /g, ".") : "")).join(" "),
    text: tr.textContent.replace(/\d{1,2}:\d{2}:\d{2}( ?[AP]M)?( UTC)?/g, "T").replace(/(in )?(\d+h )?(\d+m )?\d+[sm]( ago)?/g, "D")
      .replace(/\d+%/g, "P").replace(/\s+/g, " ").trim()}]))])))`

func snapshot(b *browser) rowSnapshot {
	b.t.Helper()
	var s rowSnapshot
	if err := json.Unmarshal([]byte(eval[string](b, snapshotJS)), &s); err != nil {
		b.t.Fatalf("browser: snapshot: %v", err)
	}
	return s
}

// checkServerRendered: with a key sent by a "proxy", the page is complete
// without its script (both replicas, the leader, the credential with its
// error and meaning), and the rows the script renders on its first poll
// have the same shape and text.
func checkServerRendered(t *testing.T, b *browser, leaderID, followerAddr string) {
	t.Helper()
	b.sendKey(apiKey)
	defer b.sendKey("")
	call(b, "disable scripts", emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	b.do(15*time.Second, "open the console without scripts", chromedp.Navigate("http://"+followerAddr+"/ui/"))
	b.waitJS(5*time.Second, "the server-rendered state", `document.body.dataset.rendered === "server" &&
		document.querySelector('tr[data-leader]').dataset.replica === "`+leaderID+`" &&
		document.querySelectorAll("tr[data-replica]").length === 2 &&
		document.querySelector('tr[data-credential="`+app+`"] meter').value > 0 &&
		document.querySelector('tr[data-credential="`+app+`"]').textContent.includes("this host's IP is not in the WeChat whitelist")`)
	b.screenshot("06-no-script")
	server := snapshot(b)
	call(b, "enable scripts", emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false})
	b.do(15*time.Second, "reload with scripts", chromedp.Reload())
	b.waitJS(pollMS*time.Millisecond+5*time.Second, "the script's first poll", `Number(document.body.dataset.polls) >= 1`)
	script := snapshot(b)
	common := 0
	for table, rows := range server {
		for key, want := range rows {
			got, ok := script[table][key]
			if !ok {
				continue // an audit entry pushed out, a replica gone
			}
			common++
			if got != want {
				t.Errorf("%s row %q: server-rendered and script-rendered differ:\nserver: %+v\nscript: %+v", table, key, want, got)
			}
		}
	}
	if common < 4 || len(server["audit"]) == 0 {
		t.Errorf("only %d rows to compare (server rows %d/%d/%d)", common, len(server["replicas"]), len(server["creds"]), len(server["audit"]))
	}
	t.Logf("figures: %d rows identical in the server's and the script's rendering", common)
	checkPaint(t, b, "server-rendered page (key sent by a proxy)", `document.body.dataset.rendered === "server"`)
}

// contrastJS returns the body's colours and the lowest contrast ratio
// (WCAG) of any text element against the body's background.
const contrastJS = `(() => {
  const rgb = (s) => s.match(/[\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bg = getComputedStyle(document.body).backgroundColor;
  let min = 99, worst = "";
  for (const e of [document.body, ...document.querySelectorAll(".label, .muted, .meaning, a, td, strong")]) {
    const [x, y] = [lum(rgb(getComputedStyle(e).color)), lum(rgb(bg))].sort((p, q) => q - p);
    const r = (x + 0.05) / (y + 0.05);
    if (r < min) { min = r; worst = e.tagName.toLowerCase() + "." + e.className; }
  }
  return JSON.stringify({bg, fg: getComputedStyle(document.body).color, bgLum: lum(rgb(bg)), min, worst});
})()`

type contrast struct {
	BG, FG string
	BGLum  float64
	Min    float64
	Worst  string
}

// checkColorSchemes: prefers-color-scheme dark and light give different
// backgrounds (dark darker), and every text keeps a contrast of 4.5:1.
func checkColorSchemes(t *testing.T, b *browser) {
	t.Helper()
	got := map[string]contrast{}
	for _, scheme := range []string{"dark", "light"} {
		call(b, "emulate "+scheme, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		b.waitJS(5*time.Second, scheme+" scheme applied", `matchMedia("(prefers-color-scheme: `+scheme+`)").matches`)
		var c contrast
		if err := json.Unmarshal([]byte(eval[string](b, contrastJS)), &c); err != nil {
			t.Fatal(err)
		}
		got[scheme] = c
		t.Logf("figures: %s scheme: background %s, text %s, lowest text contrast %.2f:1 (%s)", scheme, c.BG, c.FG, c.Min, c.Worst)
		if c.Min < 4.5 {
			t.Errorf("%s scheme: %s has contrast %.2f:1, want >= 4.5", scheme, c.Worst, c.Min)
		}
		b.screenshot("07-scheme-" + scheme)
	}
	if got["dark"].BG == got["light"].BG || got["dark"].BGLum >= got["light"].BGLum {
		t.Errorf("dark background %s is not darker than light %s", got["dark"].BG, got["light"].BG)
	}
	call(b, "stop emulating", emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
}

// focused describes document.activeElement ("" for none or the body).
const focusedJS = `(() => { const e = document.activeElement; if (!e || e === document.body) return "";
  const cs = getComputedStyle(e), again = e.dataset.tabStop === "1";
  e.dataset.tabStop = "1";
  return JSON.stringify({again, key: e.tagName.toLowerCase() + "#" + e.id + "." + e.className + ":" + e.textContent.trim().slice(0, 24),
    ring: e.matches(":focus-visible") && cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) >= 2}); })()`

// checkKeyboard tabs through the page: every element that takes the
// focus shows a focus ring, and the skip link, the three table regions,
// the error's guide link and the glossary are among them.
func checkKeyboard(t *testing.T, b *browser) {
	t.Helper()
	eval[bool](b, `(document.activeElement && document.activeElement.blur(), true)`)
	var order []string
	for range 60 {
		b.do(5*time.Second, "press Tab", chromedp.KeyEvent(kb.Tab))
		s := eval[string](b, focusedJS)
		if s == "" {
			continue
		}
		var f struct {
			Again bool
			Key   string
			Ring  bool
		}
		_ = json.Unmarshal([]byte(s), &f)
		if f.Again {
			break // around once
		}
		order = append(order, f.Key)
		if !f.Ring {
			t.Errorf("focus on %s shows no focus ring", f.Key)
		}
	}
	t.Logf("figures: %d focus stops: %s", len(order), strings.Join(order, " | "))
	for _, want := range []string{"a#.skip:", "div#.scroll:", "div#credentials.scroll:", "a#.label bad:error 40164", "summary#.:What the error codes"} {
		if !slices.ContainsFunc(order, func(k string) bool { return strings.HasPrefix(k, want) }) {
			t.Errorf("Tab never reaches %q", want)
		}
	}
}

// checkGuideLink follows the error's link to its guide entry and comes
// back.
func checkGuideLink(t *testing.T, b *browser, followerAddr string) {
	t.Helper()
	// Clicked in the page in one step: the console re-renders its rows on
	// every poll, and a node found by one DevTools call may be gone by the
	// next (CI: "Could not find node with given id").
	if !eval[bool](b, `(() => { const a = document.querySelector('tr[data-credential="`+app+`"] a.label'); if (!a) return false; a.click(); return true })()`) {
		t.Fatal("browser: no error link to follow")
	}
	b.waitJS(10*time.Second, "the guide entry of 40164", `location.pathname === "/ui/errcodes" && location.hash === "#wechat-40164" &&
		document.querySelector("#wechat-40164:target") && document.querySelector("#wechat-40164").textContent.includes("egress IP") &&
		document.querySelector("#wechat-40164").getBoundingClientRect().top < innerHeight`)
	b.screenshot("08-guide-40164")
	b.do(15*time.Second, "back to the console", chromedp.Navigate("http://"+followerAddr+"/ui/"))
	b.waitJS(10*time.Second, "the console again", `document.body.dataset.state === "ready"`)
}

// checkStateText: every state has a text label, not only a colour.
func checkStateText(t *testing.T, b *browser) {
	t.Helper()
	texts := eval[[]string](b, `[...document.querySelectorAll("tr[data-credential] td:nth-child(3), tr[data-replica] td:nth-child(2), tr[data-replica] td:nth-child(3)")].map((td) => td.textContent.trim())`)
	known := []string{"valid", "valid, last refresh failed", "failing", "no token", "★ leader", "follower", "live", "stale", "unreadable entry"}
	if len(texts) < 5 {
		t.Errorf("state cells %q: want a credential's and two replicas'", texts)
	}
	for _, s := range texts {
		if !slices.Contains(known, s) {
			t.Errorf("state cell %q is not a known state text", s)
		}
	}
	if !eval[bool](b, `getComputedStyle(document.querySelector(".label")).borderTopStyle === "solid"`) {
		t.Error("the inline stylesheet is not applied (its CSP hash?)")
	}
	if n := eval[int](b, `[...document.querySelectorAll(".label, .ok, .warn, .bad")].filter((e) => !e.textContent.trim()).length`); n != 0 {
		t.Errorf("%d coloured state marks without text", n)
	}
}

// checkZoom: at 200% zoom (half the CSS width) neither the console nor the
// guide scrolls sideways, and the key elements are on screen.
func checkZoom(t *testing.T, b *browser, followerAddr string) {
	t.Helper()
	b.do(5*time.Second, "zoom", chromedp.EmulateViewport(640, 450, chromedp.EmulateScale(2)))
	b.waitJS(5*time.Second, "no page-wide horizontal scroll at 200%", `document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1`)
	b.waitJS(5*time.Second, "key elements on screen at 200%", `["h1", "#leader-id", "#replicas", "#creds", "#audit", 'tr[data-credential="`+app+`"] .label'].every((sel) => {
		const e = document.querySelector(sel), r = e && e.getBoundingClientRect();
		return r && r.width > 0 && r.height > 0 && r.left >= 0 && r.left < innerWidth; }) &&
		[...document.querySelectorAll(".scroll")].every((e) => e.getBoundingClientRect().right <= innerWidth + 1)`)
	if n := eval[int](b, `document.querySelectorAll(".scroll[tabindex='0']").length`); n != 3 {
		t.Errorf("%d keyboard-focusable table regions, want 3", n)
	}
	b.screenshot("09-zoom-200")
	b.do(15*time.Second, "open the guide", chromedp.Navigate("http://"+followerAddr+"/ui/errcodes"))
	b.waitJS(5*time.Second, "the guide without horizontal scroll at 200%", `document.querySelector("#wechat-40164") &&
		document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1`)
	b.screenshotView("10-guide-zoom-200")
}
