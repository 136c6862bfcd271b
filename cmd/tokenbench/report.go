package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tokend/tokend/cmd/tokenbench/internal/figures"
	"github.com/tokend/tokend/cmd/tokenbench/internal/fleet"
	"github.com/tokend/tokend/cmd/tokenbench/internal/upstream"
)

// Status of a table row.
const (
	statusOK     = "ok"
	statusMissed = "MISSED"
	statusFail   = "FAIL" // an invariant broke
	statusNone   = ""
)

// row is one line of the table.
type row struct {
	figure  string
	tokend  string
	compare string // the naive baseline or another reference
	goal    string
	status  string
}

func (b *bench) add(r row) {
	b.rows = append(b.rows, r)
	b.logf("%s: %s | %s | %s %s", r.figure, r.tokend, r.compare, r.goal, r.status)
}

// goalStatus is statusOK when met, statusMissed otherwise.
func goalStatus(met bool) string {
	if met {
		return statusOK
	}
	return statusMissed
}

// printTable prints the machine, the table (Markdown) and the run time.
func printTable(w io.Writer, m fleet.Machine, b *bench, took time.Duration) {
	mode := "default"
	if b.opts.quick {
		mode = "-quick"
	}
	fmt.Fprintf(w, "tokenbench %s, %s\n", mode, m.Date)
	fmt.Fprintf(w, "machine: %s, %d cores, %s, %s, %s; load average at start %s\n", m.CPU, m.Cores, m.OS, m.GoVersion, m.Redis, m.Load)
	fmt.Fprintf(w, "fake upstream: token lifetime %s (overlap %s), round trip %s in the fetch-cycle rows; takeover replicas: lease_ttl %s\n\n",
		b.opts.lifetime, upstream.FastOverlap(b.opts.lifetime), b.opts.rtt, b.opts.leaseTTL)
	head := []string{"figure", "tokend", "naive baseline / reference", "goal", "status"}
	cells := [][]string{head}
	for _, r := range b.rows {
		cells = append(cells, []string{r.figure, r.tokend, r.compare, r.goal, r.status})
	}
	figures.WriteTable(w, cells)
	fmt.Fprintf(w, "\nrun time %s; ", took.Round(time.Second))
	if len(b.broken) == 0 {
		fmt.Fprintln(w, "all invariants held")
	} else {
		fmt.Fprintf(w, "%d failure(s): %s\n", len(b.broken), strings.Join(b.broken, "; "))
	}
}
