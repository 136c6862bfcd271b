package main

// The -chart SVG, written by hand: no plotting tool, no script, no
// external font or image. Two panels share the x axis (replicas); each
// draws the naive deployment and tokend. The SVG has its own background and
// switches its colours with prefers-color-scheme, so it reads on GitHub's
// light and dark themes alike. Every marker carries its value as data-
// attributes, printed exactly as the table beside the chart prints it.

import (
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Geometry of the chart, in SVG user units.
const (
	svgWidth, svgHeight = 760, 470
	plotTop, plotHeight = 124, 220
	plotWidth           = 280
)

// panelLeft is the x of each panel's y axis.
var panelLeft = [...]float64{80, 450}

// chartStyle themes the chart: GitHub's light palette, dark under
// prefers-color-scheme: dark.
const chartStyle = `
.bg{fill:#ffffff;stroke:#d1d9e0}.fg{fill:#1f2328}.muted{fill:#59636e}
.grid{stroke:#d1d9e0;stroke-width:1}.axis{stroke:#59636e;stroke-width:1}
.naive{stroke:#d9480f}.tokend{stroke:#0969da}.naive-f{fill:#d9480f}.tokend-f{fill:#0969da}
.line{stroke-width:2.5}.naive.line{stroke-dasharray:7 4}.val{font-size:11px}
@media (prefers-color-scheme: dark){
.bg{fill:#0d1117;stroke:#3d444d}.fg{fill:#f0f6fc}.muted{fill:#9198a1}
.grid{stroke:#3d444d}.axis{stroke:#9198a1}
.naive{stroke:#ff8a3d}.tokend{stroke:#4493f8}.naive-f{fill:#ff8a3d}.tokend-f{fill:#4493f8}
}`

// chartSeries are the two deployments, drawn in this order.
var chartSeries = []struct {
	name, class string
	of          func(cycleResult) seriesResult
}{
	{"naive SDK pattern (each replica fetches)", "naive", func(p cycleResult) seriesResult { return p.naive }},
	{"tokend (one leader fetches)", "tokend", func(p cycleResult) seriesResult { return p.tokend }},
}

// chartPanel is one metric against replicas.
type chartPanel struct {
	title, metric, unit string
	minTop              float64 // the y axis reaches at least this
	value               func(seriesResult) (float64, bool)
	text                func(seriesResult) string // as the table prints it
}

var chartPanels = []chartPanel{
	{"Upstream fetches per refresh cycle", "fetches-per-cycle", "", 2, seriesResult.perCycle, seriesResult.perCycleText},
	{"Reads handed a dead token", "dead-pct", "%", 10, seriesResult.deadPct, seriesResult.deadText},
}

// svgBuf accumulates the document.
type svgBuf struct{ strings.Builder }

func (s *svgBuf) f(format string, args ...any) { fmt.Fprintf(s, format, args...) }

// text writes a text element with escaped content.
func (s *svgBuf) text(x, y float64, attrs, content string) {
	s.f(`<text x="%.1f" y="%.1f" %s>%s</text>`+"\n", x, y, attrs, esc(content))
}

func esc(v string) string {
	var sb strings.Builder
	_ = xml.EscapeText(&sb, []byte(v))
	return sb.String()
}

// renderSVG draws d.
func renderSVG(d chartData) []byte {
	var s svgBuf
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-labelledby="title desc" font-family="-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		svgWidth, svgHeight, svgWidth, svgHeight)
	s.f("<title id=\"title\">Naive SDK deployment vs tokend, by number of replicas</title>\n")
	s.f("<desc id=\"desc\">%s</desc>\n", esc(chartDesc(d)))
	s.f("<style>%s\n</style>\n", chartStyle)
	s.f(`<rect class="bg" x="0.5" y="0.5" width="%d" height="%d" rx="6"/>`+"\n", svgWidth-1, svgHeight-1)
	s.text(24, 34, `class="fg" font-size="18" font-weight="600"`, "Naive SDK deployment vs tokend, by number of replicas")
	s.text(24, 56, `class="muted"`, "One app per deployment, the same fake WeChat upstream, a read every 5 ms per replica; all counts in one run.")
	for i, se := range chartSeries {
		x := panelLeft[i]
		s.f(`<line class="%s line" x1="%.1f" y1="80" x2="%.1f" y2="80" fill="none"/>`+"\n", se.class, x, x+28)
		marker(&s, se.class, x+14, 80)
		s.text(x+36, 84, `class="fg"`, se.name)
	}
	maxR := d.points[len(d.points)-1].replicas
	for i, p := range chartPanels {
		drawPanel(&s, p, panelLeft[i], maxR, d.points)
	}
	s.text(24, svgHeight-50, `class="muted" font-size="11"`, "Measured "+d.measured+".")
	s.text(24, svgHeight-34, `class="muted" font-size="11"`, d.timings+".")
	s.text(24, svgHeight-18, `class="muted" font-size="11"`, "Regenerate: "+d.command)
	s.f("</svg>\n")
	return []byte(s.String())
}

// chartDesc is the chart's numbers as one sentence per replica count.
func chartDesc(d chartData) string {
	var sb strings.Builder
	sb.WriteString("Upstream fetches per refresh cycle and share of reads handed a dead token, naive SDK deployment vs tokend.")
	for _, p := range d.points {
		fmt.Fprintf(&sb, " %d replica(s): naive %s fetches per cycle, %s dead; tokend %s fetches per cycle, %s dead.",
			p.replicas, p.naive.perCycleText(), p.naive.deadText(), p.tokend.perCycleText(), p.tokend.deadText())
	}
	return sb.String()
}

// marker draws one series' point marker at x, y; extra is added inside
// the element (data attributes), title becomes its tooltip.
func marker(s *svgBuf, class string, x, y float64, extra ...string) {
	attrs, title := "", ""
	if len(extra) == 2 {
		attrs, title = extra[0], "<title>"+esc(extra[1])+"</title>"
	}
	if class == "naive" {
		s.f(`<circle class="naive-f" cx="%.1f" cy="%.1f" r="4.5"%s>%s</circle>`+"\n", x, y, attrs, title)
		return
	}
	s.f(`<rect class="tokend-f" x="%.1f" y="%.1f" width="8" height="8"%s>%s</rect>`+"\n", x-4, y-4, attrs, title)
}

// drawPanel draws one panel: title, grid, axes, both series and labels.
func drawPanel(s *svgBuf, p chartPanel, left float64, maxR int, points []cycleResult) {
	top, step := niceScale(panelMax(p, points), p.minTop)
	bottom := float64(plotTop + plotHeight)
	xOf := func(r int) float64 { return left + float64(r)/float64(maxR)*plotWidth }
	yOf := func(v float64) float64 { return bottom - v/top*plotHeight }
	s.text(left, plotTop-14, `class="fg" font-size="14" font-weight="600"`, p.title)
	for v := 0.0; v <= top+step/2; v += step {
		y := yOf(v)
		s.f(`<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", left, y, left+plotWidth, y)
		s.text(left-8, y+4, `class="muted" text-anchor="end"`, fmtTick(v)+p.unit)
	}
	s.f(`<line class="axis" x1="%.1f" y1="%d" x2="%.1f" y2="%.1f"/>`+"\n", left, plotTop, left, bottom)
	s.f(`<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", left, bottom, left+plotWidth, bottom)
	for _, pt := range points {
		x := xOf(pt.replicas)
		s.f(`<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", x, bottom, x, bottom+5)
		s.text(x, bottom+18, `class="muted" text-anchor="middle"`, strconv.Itoa(pt.replicas))
	}
	s.text(left+plotWidth/2, bottom+36, `class="fg" text-anchor="middle"`, "replicas")
	for _, se := range chartSeries {
		var pts []string
		for _, pt := range points {
			if v, ok := p.value(se.of(pt)); ok {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(pt.replicas), yOf(v)))
			}
		}
		s.f(`<polyline class="%s line" fill="none" points="%s"/>`+"\n", se.class, strings.Join(pts, " "))
	}
	for i, pt := range points {
		drawPoint(s, p, pt, xOf(pt.replicas), yOf, naiveLabel(p, points, i))
	}
}

// Where naive's value label goes, off the lines through its marker.
const (
	labelAbove  = iota // centred above: the line comes down from the left
	labelUpLeft        // above and left: the line rises into the marker or starts there
	labelBelow         // below: a dip, the lines rise on both sides
)

// naiveLabel places naive's value label at points[i].
func naiveLabel(p chartPanel, points []cycleResult, i int) int {
	v, ok := p.value(points[i].naive)
	l, okL := 0.0, false
	if i > 0 {
		l, okL = p.value(points[i-1].naive)
	}
	r, okR := 0.0, false
	if i < len(points)-1 {
		r, okR = p.value(points[i+1].naive)
	}
	switch {
	case ok && okL && okR && v < l && v < r:
		return labelBelow
	case !okL || l <= v:
		return labelUpLeft
	}
	return labelAbove
}

// drawPoint draws both series' markers at one replica count with their
// data and value labels: naive's where naiveLabel puts it (but above
// instead of below when tokend's marker is close below), tokend's below its marker when
// there is room above the axis, else above it when naive's label is not in
// the way, else none (the table has it).
func drawPoint(s *svgBuf, p chartPanel, pt cycleResult, x float64, yOf func(float64) float64, naivePlace int) {
	var ys [2]float64
	for i, se := range chartSeries {
		sr := se.of(pt)
		v, ok := p.value(sr)
		if !ok {
			ys[i] = math.NaN()
			continue
		}
		ys[i] = yOf(v)
		data := fmt.Sprintf(` data-series="%s" data-metric="%s" data-replicas="%d" data-value="%s"`, se.class, p.metric, pt.replicas, esc(p.text(sr)))
		marker(s, se.class, x, ys[i], data, fmt.Sprintf("%s, %d replica(s): %s", se.class, pt.replicas, p.text(sr)))
	}
	bottom := float64(plotTop + plotHeight)
	switch {
	case math.IsNaN(ys[0]):
	case naivePlace == labelBelow && (math.IsNaN(ys[1]) || ys[1]-ys[0] > 40):
		s.text(x, ys[0]+18, `class="naive-f val" text-anchor="middle"`, p.text(pt.naive))
	case naivePlace == labelUpLeft:
		s.text(x-6, ys[0]-7, `class="naive-f val" text-anchor="end"`, p.text(pt.naive))
	default:
		s.text(x, ys[0]-9, `class="naive-f val" text-anchor="middle"`, p.text(pt.naive))
	}
	switch ty := ys[1]; {
	case math.IsNaN(ty):
	case bottom-ty > 24:
		s.text(x, ty+18, `class="tokend-f val" text-anchor="middle"`, p.text(pt.tokend))
	case math.IsNaN(ys[0]) || ys[0] > ty || ty-ys[0] > 26:
		s.text(x, ty-9, `class="tokend-f val" text-anchor="middle"`, p.text(pt.tokend))
	}
}

// panelMax is the largest value of either series in p.
func panelMax(p chartPanel, points []cycleResult) float64 {
	m := 0.0
	for _, pt := range points {
		for _, se := range chartSeries {
			if v, ok := p.value(se.of(pt)); ok {
				m = max(m, v)
			}
		}
	}
	return m
}

// niceScale returns the top of a y axis from 0 that holds v (at least
// minTop > 0) and a tick step of 1, 2 or 5 times a power of ten giving at
// most 6 ticks.
func niceScale(v, minTop float64) (top, step float64) {
	top = max(v, minTop)
	raw := top / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return math.Ceil(top/step-1e-9) * step, step
}

// fmtTick prints a tick value without float noise.
func fmtTick(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}
