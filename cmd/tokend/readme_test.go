package main

// The README's code blocks are checked here (issue 19: every command and
// snippet of the README is executed by a test, or marked). Each fenced block
// is one of:
//
//   - marked <!-- run: GROUP --> on the line before it: a shell block run
//     against real servers (readme_run_test.go). Blocks of one group share
//     servers and a working directory, in document order.
//   - marked <!-- not run: REASON -->: skipped, the reason said (e.g. "needs
//     real WeChat credentials", "a config fragment").
//   - marked <!-- example: PATH -->: a Go snippet whose every code line is in
//     the compiled example file PATH (relative to the repository root).
//   - unmarked YAML: must be a full config that parseConfig (the path of
//     `tokend check`) accepts, with every secret variable set.
//
// Any other unmarked block fails, naming its line and first line. The test
// reads ../../README.md and ../../README.zh-CN.md, or the file named by
// -readme or $TOKEND_README.

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var readmeFlag = flag.String("readme", "", "README to check (default $TOKEND_README, else ../../README.md)")

// repoRoot is the repository root seen from this package.
const repoRoot = "../.."

// cmdBlock is one fenced code block of a Markdown file.
type cmdBlock struct {
	line   int    // 1-based line of the opening fence
	lang   string // the fence's info string
	text   string // the content, without the fences
	marker string // the HTML comment right before the fence, trimmed; "" if none
}

// where names the block in failure messages: file, line and first line.
func (b cmdBlock) where(file string) string {
	first, _, _ := strings.Cut(b.text, "\n")
	return fmt.Sprintf("%s:%d: ```%s block starting %q", file, b.line, b.lang, first)
}

var markerRE = regexp.MustCompile(`^<!--\s*(.*?)\s*-->$`)

// parseBlocks finds the fenced blocks of md (``` fences at the line start,
// not indented) and the marker comment before each.
func parseBlocks(md string) []cmdBlock {
	lines := strings.Split(md, "\n")
	var out []cmdBlock
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "```") {
			continue
		}
		b := cmdBlock{line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(lines[i], "```"))}
		for j := i - 1; j >= 0; j-- {
			if s := strings.TrimSpace(lines[j]); s != "" {
				if m := markerRE.FindStringSubmatch(s); m != nil {
					b.marker = m[1]
				}
				break
			}
		}
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		b.text = strings.Join(body, "\n")
		out = append(out, b)
	}
	return out
}

// readmeMarked says the repository's README carries the quick starts and
// the markers (notes/quick-markers.md). Until the lead merges them, the test
// checks only a README named by -readme or $TOKEND_README. Set it to true
// with that merge.
const readmeMarked = true

// readmePaths are the READMEs to check: the one named by -readme or
// $TOKEND_README, else README.md and README.zh-CN.md (when it exists) once
// they are marked, else none.
func readmePaths() []string {
	if *readmeFlag != "" {
		return []string{*readmeFlag}
	}
	if p := os.Getenv("TOKEND_README"); p != "" {
		return []string{p}
	}
	if !readmeMarked {
		return nil
	}
	paths := []string{filepath.Join(repoRoot, "README.md")}
	if zh := filepath.Join(repoRoot, "README.zh-CN.md"); isFile(zh) {
		paths = append(paths, zh)
	}
	return paths
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// TestREADME_blocks checks every fenced block of the READMEs: run, compiled
// elsewhere, a valid full config, or marked with the reason it is not run.
func TestREADME_blocks(t *testing.T) {
	paths := readmePaths()
	if len(paths) == 0 {
		t.Skip("README.md has no markers yet (readmeMarked); set -readme or TOKEND_README to check a README")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) { checkREADME(t, p) })
	}
}

func checkREADME(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Base(path)
	var groups []string
	byGroup := map[string][]cmdBlock{}
	for _, b := range parseBlocks(string(data)) {
		kind, arg, _ := strings.Cut(b.marker, ":")
		arg = strings.TrimSpace(arg)
		switch {
		case kind == "run" && arg != "":
			if _, ok := byGroup[arg]; !ok {
				groups = append(groups, arg)
			}
			byGroup[arg] = append(byGroup[arg], b)
		case kind == "not run" && arg != "":
			t.Logf("%s: not run: %s", b.where(file), arg)
		case kind == "example" && arg != "":
			checkExample(t, file, b, arg)
		case b.marker == "" && b.lang == "yaml":
			checkFullConfig(t, file, b)
		default:
			t.Errorf("%s: no test runs it: mark it <!-- run: GROUP --> (shell, see cmd/tokend/readme_test.go), "+
				"<!-- example: PATH --> (Go in a compiled example) or <!-- not run: REASON --> (marker now: %q)",
				b.where(file), b.marker)
		}
	}
	if len(groups) == 0 {
		t.Errorf("%s: no <!-- run: GROUP --> block: the quick starts are missing", file)
	}
	for _, g := range groups {
		t.Run(g, func(t *testing.T) { runGroup(t, file, byGroup[g]) })
	}
}

// checkExample: every code line of the snippet (comments and blank lines
// aside) is a line, or part of a line, of the compiled example file.
func checkExample(t *testing.T, file string, b cmdBlock, rel string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Errorf("%s: example file: %v", b.where(file), err)
		return
	}
	for _, l := range strings.Split(b.text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "//") {
			continue
		}
		l = strings.TrimPrefix(l, "import ") // a one-line import is one line of an import block
		if !strings.Contains(string(src), l) {
			t.Errorf("%s: line %q is not in %s", b.where(file), l, rel)
		}
	}
}

// checkFullConfig runs an unmarked YAML block through parseConfig with every
// environment variable and secret file set to a distinct value of 16+ bytes.
func checkFullConfig(t *testing.T, file string, b cmdBlock) {
	t.Helper()
	getenv := func(k string) string { return "readme-test-value-of-" + k } // distinct keys per variable
	readFile := func(p string) ([]byte, error) { return []byte("readme-test-value-of-" + p), nil }
	if _, _, err := parseConfig([]byte(b.text), getenv, readFile); err != nil {
		t.Errorf("%s: not a valid full config (%v): fix it, or mark it <!-- not run: a config fragment -->",
			b.where(file), err)
	}
}
