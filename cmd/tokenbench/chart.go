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

	"github.com/tokend/tokend/cmd/tokenbench/internal/chart"
	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
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
	fleet.Every(ctx, max(5*time.Second, b.opts.cycleWindow/8), func() {
		for i, g := range groups {
			b.stepf("fetch cycles %s of %s, replicas %d (%d/%d): naive %d fetches, dead %s of %s reads; tokend %d fetches, dead %s of %s reads",
				time.Since(start).Round(time.Second), b.opts.cycleWindow, g.n, i+1, len(groups),
				b.fast.FetchCount(g.naive), figures.PctOf(g.naiveR.Dead.Load(), g.naiveR.Reads.Load()), figures.Int(g.naiveR.Reads.Load()),
				b.fast.FetchCount(g.app), figures.PctOf(g.tokR.Dead.Load(), g.tokR.Reads.Load()), figures.Int(g.tokR.Reads.Load()))
		}
	})
}

// writeChart writes the chart and its table after a clean run; a run with
// failures writes neither, so a committed chart always comes from a run
// where every invariant held.
func (b *bench) writeChart(m fleet.Machine) {
	if len(b.broken) > 0 || len(b.cycles) != len(b.opts.replicas) {
		b.fail("-chart: %s not written: the fetch-cycle figure did not complete cleanly", b.opts.chart)
		return
	}
	d := chart.Data{
		Measured: fmt.Sprintf("%s on %s, %d cores, %s, load average %s at start", m.Date, m.CPU, m.Cores, m.Redis, m.Load),
		Timings: fmt.Sprintf("token lifetime %s (overlap %s), upstream round trip %s, all counts at once for %s",
			b.opts.lifetime, upstream.FastOverlap(b.opts.lifetime).Round(time.Millisecond), b.opts.rtt, b.opts.cycleWindow),
		Command: "go run ./cmd/tokenbench -chart " + b.opts.chart,
		Points:  b.cycles,
	}
	table := chartTablePath(b.opts.chart)
	if err := os.WriteFile(b.opts.chart, chart.RenderSVG(d), 0o644); err != nil {
		b.fail("-chart: %v", err)
		return
	}
	if err := os.WriteFile(table, []byte(chart.RenderTable(d)), 0o644); err != nil {
		b.fail("-chart: %v", err)
		return
	}
	b.stepf("chart written to %s, its table to %s", b.opts.chart, table)
}
