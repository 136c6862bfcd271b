package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokend/tokend/integration/redisserver"
)

// The committed chart, its table, and the README heading the table is
// pasted under.
const (
	committedChart = "chart/replicas.svg"
	readmeHeading  = "### Fetches and dead tokens by replica count"
)

// chartKey names one plotted value.
type chartKey struct {
	series, metric string
	replicas       int
}

// chartMarker is a data-carrying marker of the SVG and where it is drawn.
type chartMarker struct {
	value string
	x, y  float64
}

// chartText is a text element of the SVG.
type chartText struct {
	s string
	y float64
}

// svgMarkers decodes an SVG (failing on malformed XML) and returns its
// markers by key and its text elements.
func svgMarkers(data []byte) (map[chartKey]chartMarker, []chartText, error) {
	markers, texts := map[chartKey]chartMarker{}, []chartText(nil)
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return markers, texts, nil
		}
		if err != nil {
			return nil, nil, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local == "text" {
			var txt struct {
				Y float64 `xml:"y,attr"`
				S string  `xml:",chardata"`
			}
			if err := dec.DecodeElement(&txt, &se); err != nil {
				return nil, nil, err
			}
			texts = append(texts, chartText{txt.S, txt.Y})
			continue
		}
		a := map[string]string{}
		for _, at := range se.Attr {
			a[at.Name.Local] = at.Value
		}
		if a["data-series"] == "" {
			continue
		}
		k, m, err := markerOf(se.Name.Local, a)
		if err != nil {
			return nil, nil, err
		}
		if _, dup := markers[k]; dup {
			return nil, nil, fmt.Errorf("two markers for %+v", k)
		}
		markers[k] = m
	}
}

// markerOf reads a marker's key and centre from its attributes.
func markerOf(elem string, a map[string]string) (chartKey, chartMarker, error) {
	r, err := strconv.Atoi(a["data-replicas"])
	if err != nil {
		return chartKey{}, chartMarker{}, fmt.Errorf("data-replicas: %v", err)
	}
	xa, ya, d := "cx", "cy", 0.0
	if elem == "rect" {
		xa, ya, d = "x", "y", 4
	}
	x, errX := strconv.ParseFloat(a[xa], 64)
	y, errY := strconv.ParseFloat(a[ya], 64)
	if err := errors.Join(errX, errY); err != nil {
		return chartKey{}, chartMarker{}, err
	}
	return chartKey{a["data-series"], a["data-metric"], r}, chartMarker{a["data-value"], x + d, y + d}, nil
}

// tableRows returns the Markdown table lines of md: the first run of
// lines starting with "|" at or after the line that equals heading ("":
// from the start); nil when heading is not there.
func tableRows(md, heading string) []string {
	var rows []string
	found := heading == ""
	for _, l := range strings.Split(md, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case !found:
			found = l == heading
		case strings.HasPrefix(l, "|"):
			rows = append(rows, l)
		case len(rows) > 0:
			return rows
		}
	}
	return rows
}

// tableValues reads the plotted values from the chart table's rows: the
// first word of each value cell, in chartTableHead's order.
func tableValues(rows []string) (map[chartKey]string, error) {
	if len(rows) < 3 {
		return nil, fmt.Errorf("want a header, a separator and rows, got %d lines", len(rows))
	}
	cols := []chartKey{{"naive", "fetches-per-cycle", 0}, {"tokend", "fetches-per-cycle", 0}, {"naive", "dead-pct", 0}, {"tokend", "dead-pct", 0}}
	vals := map[chartKey]string{}
	for _, r := range rows[2:] {
		cells := strings.Split(strings.Trim(r, "|"), "|")
		if len(cells) != 1+len(cols) {
			return nil, fmt.Errorf("row %q: want %d cells", r, 1+len(cols))
		}
		n, err := strconv.Atoi(strings.TrimSpace(cells[0]))
		if err != nil {
			return nil, fmt.Errorf("row %q: replicas: %v", r, err)
		}
		for i, k := range cols {
			k.replicas = n
			vals[k] = strings.Fields(cells[i+1])[0]
		}
	}
	return vals, nil
}

// fixedChart is a chart of made-up figures with rising naive values.
func fixedChart() chartData {
	s := func(fetches, cycles int, reads, dead int64) seriesResult {
		return seriesResult{fetches: fetches, cycles: cycles, maxPer: fetches / max(cycles, 1), reads: reads, dead: dead}
	}
	return chartData{
		measured: "2026-12-02 04:00 UTC on a test machine", timings: "token lifetime 4s", command: chartCommand,
		points: []cycleResult{
			{1, s(30, 30, 60000, 0), s(35, 35, 24000, 0)},
			{2, s(30, 30, 60000, 0), s(70, 35, 48000, 19200)},
			{5, s(31, 30, 60000, 0), s(175, 35, 120000, 30000)},
			{8, s(30, 30, 60000, 0), s(280, 35, 192000, 96000)},
		},
	}
}

func TestRenderSVG(t *testing.T) {
	d := fixedChart()
	markers, texts, err := svgMarkers(renderSVG(d))
	if err != nil {
		t.Fatalf("chart is not well-formed XML: %v", err)
	}
	want, err := tableValues(tableRows(renderTable(d), ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 16 {
		t.Fatalf("%d table values, want 16", len(want))
	}
	sameValues(t, markers, want)
	// Markers run left to right, and higher values are drawn higher
	// (smaller y), equal values level: naive fetches 1, 2, 5, 8; naive dead
	// 0%, 40%, 25% (a dip), 50%; tokend fetches 1.00, 1.00, 1.03, 1.00.
	for k, m := range markers {
		for k2, m2 := range markers {
			if k.series != k2.series || k.metric != k2.metric || k.replicas >= k2.replicas {
				continue
			}
			v, v2 := plotted(t, m.value), plotted(t, m2.value)
			if m.x >= m2.x || (v < v2) != (m.y > m2.y) || (v == v2) != (m.y == m2.y) {
				t.Errorf("%s %s: %s at (%.1f, %.1f) and %s at (%.1f, %.1f) are misplaced", k.series, k.metric, m.value, m.x, m.y, m2.value, m2.x, m2.y)
			}
		}
	}
	var all []string
	dipBelow := false
	for _, tx := range texts {
		all = append(all, tx.s)
		dipBelow = dipBelow || tx.s == "25.0%" && tx.y > markers[chartKey{"naive", "dead-pct", 5}].y
	}
	if !dipBelow {
		t.Error("the dip's label (naive dead 25.0% at 5 replicas) is not below its marker")
	}
	for _, s := range []string{
		"Naive SDK deployment vs tokend, by number of replicas", "Upstream fetches per refresh cycle", "Reads handed a dead token",
		"replicas", "naive SDK pattern (each replica fetches)", "tokend (one leader fetches)", "1", "2", "5", "8", "0", "50%",
		"Regenerate: " + chartCommand, "8.00", "1.03", "40.0%", "Measured 2026-12-02 04:00 UTC on a test machine.",
	} {
		if !slices.Contains(all, s) {
			t.Errorf("chart has no text %q", s)
		}
	}
}

// plotted parses a data-value ("1.03", "40.0%").
func plotted(t *testing.T, v string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil {
		t.Fatalf("data-value %q: %v", v, err)
	}
	return f
}

func TestNiceScale(t *testing.T) {
	for _, tt := range []struct{ v, minTop, top, step float64 }{
		{0, 2, 2, 0.5}, {1.03, 2, 2, 0.5}, {8, 2, 8, 2}, {8.1, 2, 10, 2}, {0, 10, 10, 2},
		{46, 10, 50, 10}, {61.7, 10, 80, 20}, {94, 10, 100, 20}, {100, 10, 100, 20},
	} {
		top, step := niceScale(tt.v, tt.minTop)
		if top != tt.top || step != tt.step {
			t.Errorf("niceScale(%v, %v) = %v, %v; want %v, %v", tt.v, tt.minTop, top, step, tt.top, tt.step)
		}
	}
}

// TestChart_committed checks that the committed chart's data equals the
// committed table beside it, and the README's copy of that table once the
// README has the heading.
func TestChart_committed(t *testing.T) {
	rows, _ := checkChartFiles(t, committedChart)
	md, err := os.ReadFile(chartTablePath(committedChart))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "generated by "+chartCommand+";") {
		t.Errorf("%s does not name the command %q", chartTablePath(committedChart), chartCommand)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	got := tableRows(string(readme), readmeHeading)
	if got == nil {
		t.Skipf("README.md has no %q heading yet: its copy of the table is not checked", readmeHeading)
	}
	if strings.Join(got, "\n") != strings.Join(rows, "\n") {
		t.Errorf("README.md's table under %q differs from %s:\n%s\nwant:\n%s", readmeHeading, chartTablePath(committedChart),
			strings.Join(got, "\n"), strings.Join(rows, "\n"))
	}
	if !strings.Contains(string(readme), chartCommand) || !strings.Contains(string(readme), "](cmd/tokenbench/"+committedChart+")") {
		t.Errorf("README.md lacks the command %q or the image link to cmd/tokenbench/%s", chartCommand, committedChart)
	}
}

// TestRun_chart runs chart mode with tiny bounds and checks the files.
func TestRun_chart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs redis-server and tokend processes; skipped with -short")
	}
	redisserver.Binary(t, "redis-server")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := filepath.Join(t.TempDir(), "r.svg")
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-chart", out, "-replicas", "2,1", "-lifetime", "2s", "-cycle-window", "5s", "-timeout", "55s"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String(), "tokenbench: ") || !strings.Contains(stderr.String(), "tokenbench: == cycles done") {
		t.Errorf("progress belongs on stderr only\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	if _, want := checkChartFiles(t, out); len(want) != 8 {
		t.Errorf("%d table values, want 8 (2 counts, 2 series, 2 metrics)", len(want))
	} else if v := want[chartKey{"tokend", "dead-pct", 2}]; v != "0.0%" {
		t.Errorf("tokend, 2 replicas: dead %s, want 0.0%%", v)
	}
}

// checkChartFiles reads a chart and the table beside it, fails t unless
// both parse and the chart plots exactly the table's values, and returns
// the table's rows and values.
func checkChartFiles(t *testing.T, chart string) ([]string, map[chartKey]string) {
	t.Helper()
	svg, err := os.ReadFile(chart)
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(chartTablePath(chart))
	if err != nil {
		t.Fatal(err)
	}
	markers, _, err := svgMarkers(svg)
	if err != nil {
		t.Fatalf("%s is not well-formed: %v", chart, err)
	}
	rows := tableRows(string(md), "")
	want, err := tableValues(rows)
	if err != nil {
		t.Fatalf("%s: %v\n%s", chartTablePath(chart), err, md)
	}
	sameValues(t, markers, want)
	return rows, want
}

// sameValues fails t unless the markers are exactly the table's values.
func sameValues(t *testing.T, markers map[chartKey]chartMarker, want map[chartKey]string) {
	t.Helper()
	if len(markers) != len(want) {
		t.Errorf("%d markers in the chart, %d values in the table", len(markers), len(want))
	}
	for k, v := range want {
		if m, ok := markers[k]; !ok || m.value != v {
			t.Errorf("%+v: chart %q (present %v), table %q", k, m.value, ok, v)
		}
	}
}

func TestParseFlags_chart(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-chart", "r.png"}, "ending in .svg"},
		{[]string{"-chart", "no/such/dir/r.svg"}, "no directory no/such/dir"},
		{[]string{"-chart", "r.svg", "-only", "reader"}, "-only cycles"},
		{[]string{"-chart", "r.svg", "-only", "cycles,reader"}, "-only cycles"},
		{[]string{"-chart", "r.svg", "-replicas", "3,3"}, "at least two"},
		{[]string{"-chart", "r.svg", "-replicas", "0,3"}, "-replicas"},
	} {
		if _, err := parseFlags(tt.args, io.Discard); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("parseFlags(%q) error = %v, want it to mention %q", tt.args, err, tt.wantErr)
		}
	}
	o, err := parseFlags([]string{"-chart", "r.svg", "-replicas", "5,1,3,1", "-only", "cycles"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(o.replicas) != "[1 3 5]" || o.lifetime != 4*time.Second || o.cycleWindow != 2*time.Minute || !o.only["cycles"] {
		t.Errorf("-chart -replicas 5,1,3,1: replicas %v lifetime %s window %s only %v; want [1 3 5], chart defaults, cycles",
			o.replicas, o.lifetime, o.cycleWindow, o.only)
	}
	o, err = parseFlags([]string{"-chart", "r.svg"}, io.Discard)
	if err != nil || fmt.Sprint(o.replicas) != "[1 2 3 5 8]" {
		t.Errorf("-chart alone: replicas %v, err %v; want [1 2 3 5 8]", o.replicas, err)
	}
	o, err = parseFlags([]string{"-quick", "-chart", "r.svg"}, io.Discard)
	if err != nil || fmt.Sprint(o.replicas) != "[1 3]" || o.cycleWindow != 7*time.Second {
		t.Errorf("-quick -chart: replicas %v window %s, err %v; want -quick's [1 3] and 7s", o.replicas, o.cycleWindow, err)
	}
}
