package chart

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// chartCommand is a regenerate command, as tokenbench passes it.
const chartCommand = "go run ./cmd/tokenbench -chart cmd/tokenbench/chart/replicas.svg"

// fixedChart is a chart of made-up figures with rising naive values.
func fixedChart() Data {
	s := func(fetches, cycles int, reads, dead int64) Series {
		return Series{Fetches: fetches, Cycles: cycles, MaxPer: fetches / max(cycles, 1), Reads: reads, Dead: dead}
	}
	return Data{
		Measured: "2026-12-02 04:00 UTC on a test machine", Timings: "token lifetime 4s", Command: chartCommand,
		Points: []Point{
			{1, s(30, 30, 60000, 0), s(35, 35, 24000, 0)},
			{2, s(30, 30, 60000, 0), s(70, 35, 48000, 19200)},
			{5, s(31, 30, 60000, 0), s(175, 35, 120000, 30000)},
			{8, s(30, 30, 60000, 0), s(280, 35, 192000, 96000)},
		},
	}
}

func TestRenderSVG(t *testing.T) {
	d := fixedChart()
	markers, texts, err := Markers(RenderSVG(d))
	if err != nil {
		t.Fatalf("chart is not well-formed XML: %v", err)
	}
	want, err := TableValues(TableRows(RenderTable(d), ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 16 {
		t.Fatalf("%d table values, want 16", len(want))
	}
	for _, d := range Diff(markers, want) {
		t.Error(d)
	}
	// Markers run left to right, and higher values are drawn higher
	// (smaller y), equal values level: naive fetches 1, 2, 5, 8; naive dead
	// 0%, 40%, 25% (a dip), 50%; tokend fetches 1.00, 1.00, 1.03, 1.00.
	for k, m := range markers {
		for k2, m2 := range markers {
			if k.Series != k2.Series || k.Metric != k2.Metric || k.Replicas >= k2.Replicas {
				continue
			}
			v, v2 := plotted(t, m.Value), plotted(t, m2.Value)
			if m.X >= m2.X || (v < v2) != (m.Y > m2.Y) || (v == v2) != (m.Y == m2.Y) {
				t.Errorf("%s %s: %s at (%.1f, %.1f) and %s at (%.1f, %.1f) are misplaced", k.Series, k.Metric, m.Value, m.X, m.Y, m2.Value, m2.X, m2.Y)
			}
		}
	}
	var all []string
	dipBelow := false
	for _, tx := range texts {
		all = append(all, tx.S)
		dipBelow = dipBelow || tx.S == "25.0%" && tx.Y > markers[Key{"naive", "dead-pct", 5}].Y
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
