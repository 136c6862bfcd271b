// Package figures formats the bench's numbers (durations, counts,
// shares) and summarises latency samples, the same way in every table.
package figures

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Durations is a sample of latencies.
type Durations []time.Duration

// Pct returns the p-th percentile (0..100), nearest rank; 0 when empty.
func (d Durations) Pct(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p/100*float64(len(s)) + 0.5)
	return s[min(max(i-1, 0), len(s)-1)]
}

func (d Durations) Max() time.Duration {
	if len(d) == 0 {
		return 0
	}
	return slices.Max(d)
}

// Dur prints d with three significant digits in a fitting unit.
func Dur(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// Int prints n with thousands separators.
func Int(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + Int(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// PctOf is part of total in percent with one decimal, "n/a" for a zero total.
func PctOf(part, total int64) string {
	if total == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(total))
}

// WriteTable writes cells as a Markdown table with aligned columns: the
// first row is the header, a separator follows it.
func WriteTable(w io.Writer, cells [][]string) {
	if len(cells) == 0 {
		return
	}
	widths := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			widths[i] = max(widths[i], len([]rune(s)))
		}
	}
	line := func(c []string) {
		var sb strings.Builder
		sb.WriteString("|")
		for i, s := range c {
			fmt.Fprintf(&sb, " %s%s |", s, strings.Repeat(" ", widths[i]-len([]rune(s))))
		}
		fmt.Fprintln(w, sb.String())
	}
	line(cells[0])
	sep := make([]string, len(widths))
	for i := range sep {
		sep[i] = strings.Repeat("-", widths[i])
	}
	line(sep)
	for _, c := range cells[1:] {
		line(c)
	}
}
