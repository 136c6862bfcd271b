package main

// Chart mode (-chart FILE.svg): the fetch-cycle figure alone, for every
// -replicas count in one run, written as an SVG chart (svg.go) and as the
// Markdown table of the same numbers (FILE.md beside it). Both are drawn
// from the same cycleResults with the same formatting, so the chart's
// embedded data and the table agree by construction; chart_test.go checks
// the committed pair.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/cmd/tokenbench/internal/upstream"
)

// chartDefaults are the -chart values of flags not given explicitly: about
// 3 minutes on 2 cores, about 38 naive and 34 tokend cycles per count.
var chartDefaults = map[string]string{
	"replicas": "1,2,3,5,8", "lifetime": "4s", "cycle-window": "2m", "timeout": "6m", "only": "cycles",
}

// chartCommand is the documented command that regenerates the committed
// chart and table.
const chartCommand = "go run ./cmd/tokenbench -chart cmd/tokenbench/chart/replicas.svg"

// setUnset sets the flags of defaults that were not given explicitly (nor
// set by an earlier setUnset).
func setUnset(fs *flag.FlagSet, defaults map[string]string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, v := range defaults {
		if !set[name] {
			if err := fs.Set(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkChart validates the -chart options and sorts the replica counts.
func checkChart(o *options) error {
	if o.chart == "" {
		return nil
	}
	if !strings.HasSuffix(o.chart, ".svg") {
		return fmt.Errorf("-chart: want a file name ending in .svg, got %q", o.chart)
	}
	if fi, err := os.Stat(filepath.Dir(o.chart)); err != nil || !fi.IsDir() {
		return fmt.Errorf("-chart: no directory %s to write %s into", filepath.Dir(o.chart), filepath.Base(o.chart))
	}
	if len(o.only) != 1 || !o.only["cycles"] {
		return errors.New("-chart runs only the fetch-cycle figure: leave out -only or give -only cycles")
	}
	slices.Sort(o.replicas)
	o.replicas = slices.Compact(o.replicas)
	if len(o.replicas) < 2 {
		return errors.New("-replicas: the chart wants at least two different counts")
	}
	return nil
}

// chartTablePath is where the table beside chart goes.
func chartTablePath(chart string) string {
	return strings.TrimSuffix(chart, ".svg") + ".md"
}

// stepf reports progress on stderr, with or without -v; stdout carries
// only results.
func (b *bench) stepf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "tokenbench: "+format+"\n", args...)
}

// cycleProgress reports the fetch-cycle groups' counts so far every
// eighth of the window (at least 5 s apart) until ctx ends.
func (b *bench) cycleProgress(ctx context.Context, groups []*cycleGroup) {
	start := time.Now()
	tickEvery(ctx, max(5*time.Second, b.opts.cycleWindow/8), func() {
		for i, g := range groups {
			b.stepf("fetch cycles %s of %s, replicas %d (%d/%d): naive %d fetches, dead %s of %s reads; tokend %d fetches, dead %s of %s reads",
				time.Since(start).Round(time.Second), b.opts.cycleWindow, g.n, i+1, len(groups),
				b.fast.FetchCount(g.naive), pctOf(g.naiveR.dead.Load(), g.naiveR.reads.Load()), fmtInt(g.naiveR.reads.Load()),
				b.fast.FetchCount(g.app), pctOf(g.tokR.dead.Load(), g.tokR.reads.Load()), fmtInt(g.tokR.reads.Load()))
		}
	})
}

// chartData is what the chart and its table show.
type chartData struct {
	measured string // when and on what machine
	timings  string // the fake upstream's timings and the window
	command  string // the command that regenerates the pair
	points   []cycleResult
}

// perCycle is fetches per cycle; false without cycles.
func (s seriesResult) perCycle() (float64, bool) {
	if s.cycles == 0 {
		return 0, false
	}
	return float64(s.fetches) / float64(s.cycles), true
}

// deadPct is the share of dead reads in percent; false without reads.
func (s seriesResult) deadPct() (float64, bool) {
	if s.reads == 0 {
		return 0, false
	}
	return 100 * float64(s.dead) / float64(s.reads), true
}

// deadText is deadPct as the table and the chart's data print it.
func (s seriesResult) deadText() string { return pctOf(s.dead, s.reads) }

// writeChart writes the chart and its table after a clean run; a run with
// failures writes neither, so a committed chart always comes from a run
// where every invariant held.
func (b *bench) writeChart(m fleet.Machine) {
	if len(b.broken) > 0 || len(b.cycles) != len(b.opts.replicas) {
		b.fail("-chart: %s not written: the fetch-cycle figure did not complete cleanly", b.opts.chart)
		return
	}
	d := chartData{
		measured: fmt.Sprintf("%s on %s, %d cores, %s, load average %s at start", m.Date, m.CPU, m.Cores, m.Redis, m.Load),
		timings: fmt.Sprintf("token lifetime %s (overlap %s), upstream round trip %s, all counts at once for %s",
			b.opts.lifetime, upstream.FastOverlap(b.opts.lifetime).Round(time.Millisecond), b.opts.rtt, b.opts.cycleWindow),
		command: "go run ./cmd/tokenbench -chart " + b.opts.chart,
		points:  b.cycles,
	}
	table := chartTablePath(b.opts.chart)
	if err := os.WriteFile(b.opts.chart, renderSVG(d), 0o644); err != nil {
		b.fail("-chart: %v", err)
		return
	}
	if err := os.WriteFile(table, []byte(renderTable(d)), 0o644); err != nil {
		b.fail("-chart: %v", err)
		return
	}
	b.stepf("chart written to %s, its table to %s", b.opts.chart, table)
}

// chartTableHead is the header of the chart's table.
var chartTableHead = []string{"replicas", "naive: fetches /cycle", "tokend: fetches /cycle", "naive: dead tokens", "tokend: dead tokens"}

// chartRow is one replica count's table cells; the first word of each
// value cell is the value the chart plots.
func chartRow(p cycleResult) []string {
	fetches := func(s seriesResult) string {
		return fmt.Sprintf("%s (%d in %d)", s.perCycleText(), s.fetches, s.cycles)
	}
	dead := func(s seriesResult) string {
		return fmt.Sprintf("%s (%s of %s reads)", s.deadText(), fmtInt(s.dead), fmtInt(s.reads))
	}
	return []string{fmt.Sprint(p.replicas), fetches(p.naive), fetches(p.tokend), dead(p.naive), dead(p.tokend)}
}

// renderTable is the Markdown table of d, after a comment naming the
// command that regenerates it and a line saying how it was measured.
func renderTable(d chartData) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "<!-- generated by %s; do not edit -->\n", d.command)
	fmt.Fprintf(&sb, "Measured %s; %s.\n\n", d.measured, d.timings)
	line := func(cells []string) { fmt.Fprintf(&sb, "| %s |\n", strings.Join(cells, " | ")) }
	line(chartTableHead)
	sb.WriteString("|---:|---:|---:|---:|---:|\n")
	for _, p := range d.points {
		line(chartRow(p))
	}
	return sb.String()
}
