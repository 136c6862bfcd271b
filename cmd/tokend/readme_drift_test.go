package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The drift test keeps README.md and its Chinese translation README.zh-CN.md
// saying the same thing where it matters to an operator: command lines,
// config keys, routes and Redis keys. Prose is free; what is compared is
//
//  1. the sequence of code blocks (fenced and indented), byte for byte but
//     for trailing white space;
//  2. the multiset of inline code spans in table rows and list items (line
//     breaks inside a span count as one space, so prose may wrap anywhere);
//  3. per table, in order: column count, row count, and the sets of inline
//     code spans and of numbers outside code spans.
//
// It does NOT compare headings, paragraphs outside lists and tables, or
// anything outside code spans but the numbers in tables.

const (
	readmeEN = "../../README.md"
	readmeZH = "../../README.zh-CN.md"
)

// mdBlock is one code block: its first line in the file and its lines
// (the fence lines included; an indented block keeps its indentation).
type mdBlock struct {
	line  int
	lines []string
}

// mdTable is one table: its first line, its rows (the delimiter row not
// counted) and what in it must survive a translation.
type mdTable struct {
	line, cols, rows int
	spans, numbers   map[string]bool
}

// mdShape is what the drift test compares of one README.
type mdShape struct {
	blocks []mdBlock
	tables []*mdTable
	spans  map[string]int // inline code spans of table rows and list items
	where  map[string]int // first line of each span, for messages
}

var (
	fenceRe     = regexp.MustCompile("^\\s*(```+|~~~+)")
	listItemRe  = regexp.MustCompile(`^\s*([-*+]|\d+[.)])\s`)
	tableRowRe  = regexp.MustCompile(`^\s*\|`)
	delimRowRe  = regexp.MustCompile(`^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$`)
	numberRe    = regexp.MustCompile(`\d+(?:\.\d+)?`)
	spanBreakRe = regexp.MustCompile(`[ \t]*\n[ \t]*`)
)

// parseReadme splits a README into its code blocks, tables and the code
// spans of its tables and list items.
func parseReadme(text string) *mdShape {
	s := &mdShape{spans: map[string]int{}, where: map[string]int{}}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var item []string // the list item being gathered
	itemLine, inList := 0, false
	flush := func() {
		if item != nil {
			s.addSpans(strings.Join(item, "\n"), itemLine)
		}
		item = nil
	}
	for i := 0; i < len(lines); i++ {
		ln := lines[i]
		switch {
		case fenceRe.MatchString(ln):
			flush()
			i = s.fenced(lines, i)
		case !inList && isIndentedCode(ln) && (i == 0 || strings.TrimSpace(lines[i-1]) == ""):
			i = s.indented(lines, i)
		case tableRowRe.MatchString(ln):
			flush()
			i = s.table(lines, i)
		case listItemRe.MatchString(ln):
			flush()
			item, itemLine, inList = []string{ln}, i+1, true
		case strings.TrimSpace(ln) == "":
			flush()
			if inList && i+1 < len(lines) && !startsIndented(lines[i+1]) && !listItemRe.MatchString(lines[i+1]) {
				inList = false
			}
		case item != nil:
			item = append(item, ln)
		}
	}
	flush()
	return s
}

func isIndentedCode(ln string) bool {
	return strings.HasPrefix(ln, "    ") || strings.HasPrefix(ln, "\t")
}

func startsIndented(ln string) bool {
	return strings.HasPrefix(ln, "  ") || strings.HasPrefix(ln, "\t")
}

// fenced records the fenced block opening at lines[i] and returns the index
// of its closing fence (or the last line when it is never closed).
func (s *mdShape) fenced(lines []string, i int) int {
	open := fenceRe.FindStringSubmatch(lines[i])[1]
	b := mdBlock{line: i + 1, lines: []string{trimRight(lines[i])}}
	j := i + 1
	for ; j < len(lines); j++ {
		b.lines = append(b.lines, trimRight(lines[j]))
		if m := fenceRe.FindStringSubmatch(lines[j]); m != nil && m[1][0] == open[0] &&
			len(m[1]) >= len(open) && strings.TrimSpace(lines[j]) == m[1] {
			break
		}
	}
	s.blocks = append(s.blocks, b)
	return min(j, len(lines)-1)
}

// indented records the indented code block starting at lines[i] and returns
// the index of its last line.
func (s *mdShape) indented(lines []string, i int) int {
	b := mdBlock{line: i + 1}
	j := i
	for ; j < len(lines); j++ {
		if isIndentedCode(lines[j]) {
			b.lines = append(b.lines, trimRight(lines[j]))
			continue
		}
		if strings.TrimSpace(lines[j]) == "" && j+1 < len(lines) && isIndentedCode(lines[j+1]) {
			b.lines = append(b.lines, "")
			continue
		}
		break
	}
	s.blocks = append(s.blocks, b)
	return j - 1
}

// table records the table starting at lines[i] and returns the index of its
// last row.
func (s *mdShape) table(lines []string, i int) int {
	t := &mdTable{line: i + 1, spans: map[string]bool{}, numbers: map[string]bool{}}
	j := i
	for ; j < len(lines) && tableRowRe.MatchString(lines[j]); j++ {
		row := strings.TrimSpace(lines[j])
		if delimRowRe.MatchString(row) {
			continue
		}
		t.rows++
		t.cols = max(t.cols, len(splitCells(row)))
		for _, sp := range s.addSpans(row, j+1) {
			t.spans[sp] = true
		}
		for _, n := range numberRe.FindAllString(stripSpans(row), -1) {
			t.numbers[n] = true
		}
	}
	s.tables = append(s.tables, t)
	return j - 1
}

// splitCells splits a table row on its unescaped pipes.
func splitCells(row string) []string {
	row = strings.TrimSuffix(strings.TrimPrefix(row, "|"), "|")
	var cells []string
	start := 0
	for k := 0; k < len(row); k++ {
		if row[k] == '\\' {
			k++
			continue
		}
		if row[k] == '|' {
			cells = append(cells, row[start:k])
			start = k + 1
		}
	}
	return append(cells, row[start:])
}

// codeSpans returns the inline code spans of text, CommonMark style: a run
// of n backticks opens a span that the next run of exactly n closes; a run
// never closed is literal. A line break inside a span counts as one space.
func codeSpans(text string) (spans []string, rest string) {
	var out strings.Builder
	for i := 0; i < len(text); {
		if text[i] != '`' {
			out.WriteByte(text[i])
			i++
			continue
		}
		n := runLen(text, i)
		end := closingRun(text, i+n, n)
		if end < 0 {
			out.WriteString(text[i : i+n])
			i += n
			continue
		}
		spans = append(spans, spanBreakRe.ReplaceAllString(text[i+n:end], " "))
		out.WriteByte(' ')
		i = end + n
	}
	return spans, out.String()
}

func runLen(text string, i int) int {
	n := 0
	for i+n < len(text) && text[i+n] == '`' {
		n++
	}
	return n
}

// closingRun finds the next run of exactly n backticks at or after from.
func closingRun(text string, from, n int) int {
	for k := from; k < len(text); {
		if text[k] != '`' {
			k++
			continue
		}
		m := runLen(text, k)
		if m == n {
			return k
		}
		k += m
	}
	return -1
}

func stripSpans(text string) string {
	_, rest := codeSpans(text)
	return rest
}

func (s *mdShape) addSpans(text string, line int) []string {
	spans, _ := codeSpans(text)
	for _, sp := range spans {
		s.spans[sp]++
		if _, ok := s.where[sp]; !ok {
			s.where[sp] = line
		}
	}
	return spans
}

func trimRight(s string) string { return strings.TrimRight(s, " \t") }

// compareReadmes lists every difference between the shapes of two READMEs,
// each naming what differs and where.
func compareReadmes(en, zh *mdShape) []string {
	var probs []string
	probs = append(probs, compareBlocks(en.blocks, zh.blocks)...)
	probs = append(probs, compareSpanCounts(en, zh)...)
	probs = append(probs, compareTables(en.tables, zh.tables)...)
	return probs
}

func compareBlocks(en, zh []mdBlock) []string {
	var probs []string
	for k := range max(len(en), len(zh)) {
		if k >= len(en) {
			probs = append(probs, fmt.Sprintf("code block %d (zh line %d): extra in README.zh-CN.md: %q", k+1, zh[k].line, zh[k].lines[0]))
			continue
		}
		if k >= len(zh) {
			probs = append(probs, fmt.Sprintf("code block %d (en line %d): missing from README.zh-CN.md: %q", k+1, en[k].line, en[k].lines[0]))
			continue
		}
		a, b := en[k].lines, zh[k].lines
		for l := range max(len(a), len(b)) {
			la, lb := lineAt(a, l), lineAt(b, l)
			if la != lb {
				probs = append(probs, fmt.Sprintf("code block %d (en line %d, zh line %d) differs at its line %d:\n  en: %q\n  zh: %q",
					k+1, en[k].line, zh[k].line, l+1, la, lb))
				break
			}
		}
	}
	return probs
}

func lineAt(lines []string, l int) string {
	if l < len(lines) {
		return lines[l]
	}
	return "<end of block>"
}

func compareSpanCounts(en, zh *mdShape) []string {
	var probs []string
	keys := map[string]bool{}
	for k := range en.spans {
		keys[k] = true
	}
	for k := range zh.spans {
		keys[k] = true
	}
	for _, k := range sortedKeys(keys) {
		a, b := en.spans[k], zh.spans[k]
		switch {
		case a > b:
			probs = append(probs, fmt.Sprintf("span `%s` (en line %d): %d in README.md tables/lists, %d in README.zh-CN.md (missing)", k, en.where[k], a, b))
		case a < b:
			probs = append(probs, fmt.Sprintf("span `%s` (zh line %d): %d in README.md tables/lists, %d in README.zh-CN.md (extra)", k, zh.where[k], a, b))
		}
	}
	return probs
}

func compareTables(en, zh []*mdTable) []string {
	var probs []string
	if len(en) != len(zh) {
		probs = append(probs, fmt.Sprintf("tables: %d in README.md, %d in README.zh-CN.md", len(en), len(zh)))
	}
	for k := range min(len(en), len(zh)) {
		a, b := en[k], zh[k]
		at := fmt.Sprintf("table %d (en line %d, zh line %d)", k+1, a.line, b.line)
		if a.cols != b.cols || a.rows != b.rows {
			probs = append(probs, fmt.Sprintf("%s: %d columns x %d rows in README.md, %d x %d in README.zh-CN.md", at, a.cols, a.rows, b.cols, b.rows))
		}
		probs = append(probs, setDiff(at, "span", a.spans, b.spans)...)
		probs = append(probs, setDiff(at, "number", a.numbers, b.numbers)...)
	}
	return probs
}

func setDiff(at, what string, en, zh map[string]bool) []string {
	var probs []string
	for _, k := range sortedKeys(en) {
		if !zh[k] {
			probs = append(probs, fmt.Sprintf("%s: %s %q missing from README.zh-CN.md", at, what, k))
		}
	}
	for _, k := range sortedKeys(zh) {
		if !en[k] {
			probs = append(probs, fmt.Sprintf("%s: %s %q extra in README.zh-CN.md", at, what, k))
		}
	}
	return probs
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestREADME_drift: README.zh-CN.md has the same code blocks, the same code
// spans in its tables and lists, and tables of the same shape as README.md.
func TestREADME_drift(t *testing.T) {
	en, err := os.ReadFile(readmeEN)
	if err != nil {
		t.Fatal(err)
	}
	zh, err := os.ReadFile(readmeZH)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("README.zh-CN.md is not in the repo yet; the drift check starts when it is added")
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range compareReadmes(parseReadme(string(en)), parseReadme(string(zh))) {
		t.Error("README.md and README.zh-CN.md drifted apart: " + p)
	}
}
